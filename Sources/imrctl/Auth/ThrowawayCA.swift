import Crypto
import Foundation
import SwiftASN1
import X509

/// A certificate authority made on the spot, and a server certificate it signs: TLS for
/// tests, demos and private deployments without a public CA. Keys are P-256; files are PEM.
struct ThrowawayCA {
    let certificatePEM: String
    private let key: P256.Signing.PrivateKey
    private let name: DistinguishedName

    init(commonName: String = "imr throwaway CA", validDays: Int = 30) throws {
        key = P256.Signing.PrivateKey()
        name = try DistinguishedName { CommonName(commonName) }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now - 3600, notValidAfter: now + Double(validDays) * 86_400,
            issuer: name, subject: name,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: .init(key))
        certificatePEM = try certificate.serializeAsPEM().pemString
    }

    /// A server certificate for `hosts` (names, or IPv4/IPv6 addresses) and its private key.
    func serverCertificate(hosts: [String], validDays: Int = 30, expired: Bool = false) throws -> (certificatePEM: String, keyPEM: String) {
        let serverKey = P256.Signing.PrivateKey()
        let now = Date()
        let validity = expired ? (now - 2 * 86_400, now - 86_400) : (now - 3600, now + Double(validDays) * 86_400)
        let names: [GeneralName] = hosts.map { host in
            if let address = Self.addressBytes(host) { return .ipAddress(ASN1OctetString(contentBytes: ArraySlice(address))) }
            return .dnsName(host)
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(serverKey.publicKey),
            notValidBefore: validity.0, notValidAfter: validity.1,
            issuer: name, subject: try DistinguishedName { CommonName(hosts.first ?? "imr relay") },
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: .init(key))
        return (try certificate.serializeAsPEM().pemString, serverKey.pemRepresentation)
    }

    /// The bytes of an IPv4 or IPv6 address, nil for a name.
    static func addressBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }
}
