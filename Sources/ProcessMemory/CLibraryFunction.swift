#if canImport(Glibc)
import Glibc
#endif

/// A C library function looked up at run time, so that the process still runs on a C library
/// without it (musl has no `malloc_trim`); nil there, and off Linux.
func cLibraryFunction<Function>(_ name: String, as type: Function.Type) -> Function? {
    #if canImport(Glibc)
    // A null handle is RTLD_DEFAULT: the symbol wherever the process has it.
    guard let symbol = dlsym(nil, name) else { return nil }
    return unsafeBitCast(symbol, to: type)
    #else
    return nil
    #endif
}
