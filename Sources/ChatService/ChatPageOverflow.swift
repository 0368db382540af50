import Synchronization

/// Whether a page fell too far behind, and what to do the moment it does (cut its writer off).
///
/// Triggered from whichever task delivered the input that did not fit; read by the page's
/// writer. State: `state`'s mutex; the action runs outside it, once.
final class ChatPageOverflow: Sendable {
    private struct State: Sendable {
        var happened = false
        var action: (@Sendable () -> Void)?
    }

    private let state = Mutex(State())

    var happened: Bool { state.withLock { $0.happened } }

    func onOverflow(_ action: @escaping @Sendable () -> Void) {
        let now = state.withLock { state -> Bool in
            state.action = action
            return state.happened
        }
        if now { action() }
    }

    func trigger() {
        let action = state.withLock { state -> (@Sendable () -> Void)? in
            guard !state.happened else { return nil }
            state.happened = true
            defer { state.action = nil }
            return state.action
        }
        action?()
    }
}
