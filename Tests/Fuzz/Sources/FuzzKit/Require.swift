/// Stops the run on a broken invariant. The message goes to stderr and the trap is a crash
/// to libFuzzer, which saves the input that led here as the reproducer.
public func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                    file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fatalError("invariant broken: " + message(), file: file, line: line) }
}
