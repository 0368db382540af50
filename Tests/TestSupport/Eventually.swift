/// Polls `condition` until it holds or `timeout` passes; whether it held. Tests wait on
/// conditions with deadlines, never on fixed sleeps.
public func eventually(timeout: Duration = .seconds(15), _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while await !condition() {
        guard ContinuousClock.now < deadline else { return false }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return true
}
