import FuzzKit

// ClientEngine driven by a script against a scripted server over a lossy, duplicating,
// reordering network (see ClientScript); ClientObserver checks the invariants after every
// step, and an honest run ends with the client caught up.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzClient(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    guard var script = ClientScript(&input) else { return 0 }
    script.run(&input)
    return 0
}
