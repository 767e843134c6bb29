import CIMR

/// The runtime version, packed like IMR_VERSION_NUM.
@c @implementation
public func imr_version() -> Int32 {
    Int32(IMR_VERSION_MAJOR * 10000 + IMR_VERSION_MINOR * 100 + IMR_VERSION_PATCH)
}
