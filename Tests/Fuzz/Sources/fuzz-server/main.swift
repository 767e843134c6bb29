import FuzzKit

// ServerEngine driven by a script (see ServerScript): sessions open, authenticate, send
// frames from a generator, raw and mutated bytes, time passes, outputs are polled or left
// queued, backlogs change, sessions close; ServerObserver checks the invariants after
// every step.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzServer(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    var script = ServerScript(&input)
    script.run(&input)
    return 0
}
