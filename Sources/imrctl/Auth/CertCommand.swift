import ArgumentParser
import Foundation

/// `imrctl cert`: a throwaway CA and a server certificate for `imrctl relay --tls-cert/--tls-key`.
struct CertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cert",
        abstract: "Make a throwaway CA and a relay certificate it signs (PEM files: ca.pem, relay.pem, relay.key).")

    @Option(help: "Directory for the files (created if missing).") var out = "."
    @Option(help: "A name or address the relay is reached by (repeatable).") var host: [String] = ["localhost", "127.0.0.1"]
    @Option(help: "Days the certificates are valid.") var days = 30

    func validate() throws {
        guard days >= 1, days <= 3650 else { throw ValidationError("--days is 1 to 3650") }
        guard !host.isEmpty else { throw ValidationError("give at least one --host") }
    }

    func run() throws {
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let ca = try ThrowawayCA(validDays: days)
        let (certificate, key) = try ca.serverCertificate(hosts: host, validDays: days)
        try ca.certificatePEM.write(toFile: out + "/ca.pem", atomically: true, encoding: .utf8)
        try certificate.write(toFile: out + "/relay.pem", atomically: true, encoding: .utf8)
        try key.write(toFile: out + "/relay.key", atomically: true, encoding: .utf8)
        chmod(out + "/relay.key", 0o600)
        print("wrote \(out)/ca.pem (clients trust it), \(out)/relay.pem and \(out)/relay.key (imrctl relay --tls-cert --tls-key)")
    }
}
