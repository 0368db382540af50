import MQTTBroker
import Testing

@Suite("ACL files in Mosquitto's format")
struct AccessControlListTests {
    static let text = """
        # anonymous clients
        topic read public/#

        user alice
        topic readwrite alice/#
        topic deny alice/secret
          topic write inbox/#
        topic sensors/+/temperature

        user bob
        topic read $SYS/#
        topic read #

        pattern readwrite devices/%c/#
        pattern read users/%u/inbox
        """

    static func client(_ username: String?, id: String = "c1") -> ClientInfo {
        ClientInfo(clientIdentifier: id, username: username, protocolVersion: .v5, remoteAddress: nil, listener: 0)
    }

    let acl: AccessControlList

    init() throws {
        acl = try AccessControlList(contents: Self.text, file: "acl")
    }

    @Test("Topic lines grant per user, the section before the first user line is for anonymous clients")
    func sections() {
        let alice = Self.client("alice"), anonymous = Self.client(nil)
        #expect(acl.permits(.write, topic: "alice/notes", client: alice))
        #expect(acl.permits(.read, topic: "alice/notes", client: alice))
        #expect(!acl.permits(.read, topic: "inbox/alice", client: alice))
        #expect(acl.permits(.write, topic: "inbox/alice", client: alice))
        #expect(acl.permits(.write, topic: "sensors/7/temperature", client: alice), "no access word means readwrite")
        #expect(!acl.permits(.read, topic: "public/news", client: alice), "the anonymous section is not everyone's")
        #expect(acl.permits(.read, topic: "public/news", client: anonymous))
        #expect(!acl.permits(.write, topic: "public/news", client: anonymous))
        #expect(!acl.permits(.read, topic: "alice/notes", client: Self.client("mallory")))
    }

    @Test("A deny line wins over any grant")
    func denyWins() {
        #expect(!acl.permits(.read, topic: "alice/secret", client: Self.client("alice")))
        #expect(!acl.permits(.write, topic: "alice/secret", client: Self.client("alice")))
    }

    @Test("# does not reach $SYS; $SYS/# must be granted by name")
    func dollarTopics() {
        #expect(acl.permits(.read, topic: "$SYS/broker/uptime", client: Self.client("bob")))
        let noSys = try! AccessControlList(contents: "user carol\ntopic read #\n", file: "acl")
        #expect(!noSys.permits(.read, topic: "$SYS/broker/uptime", client: Self.client("carol")))
        #expect(noSys.permits(.read, topic: "anything/else", client: Self.client("carol")))
    }

    @Test("Patterns fill %c and %u for every client, as whole levels only")
    func patterns() {
        #expect(acl.permits(.write, topic: "devices/c1/state", client: Self.client("alice")))
        #expect(acl.permits(.write, topic: "devices/c1/state", client: Self.client(nil)))
        #expect(!acl.permits(.write, topic: "devices/c2/state", client: Self.client("alice")))
        #expect(acl.permits(.read, topic: "users/alice/inbox", client: Self.client("alice")))
        #expect(!acl.permits(.read, topic: "users/alice/inbox", client: Self.client(nil)))
        for sneaky in ["a+b", "#", "a/b"] {
            #expect(!acl.permits(.write, topic: "devices/\(sneaky)/state", client: Self.client("x", id: sneaky)))
        }
        #expect(!acl.permits(.write, topic: "devices/a/b/state", client: Self.client("x", id: "a/b")))
    }

    @Test("A subscription is refused when no rule lets it read anything, or a deny covers it")
    func subscriptions() {
        let alice = Self.client("alice")
        #expect(acl.permitsSubscription(to: "alice/#", client: alice))
        #expect(acl.permitsSubscription(to: "#", client: alice), "partly readable: filtered at delivery")
        #expect(acl.permitsSubscription(to: "+/notes", client: alice))
        #expect(!acl.permitsSubscription(to: "bob/#", client: alice))
        #expect(!acl.permitsSubscription(to: "inbox/#", client: alice), "write-only")
        #expect(!acl.permitsSubscription(to: "alice/secret", client: alice), "denied outright")
        #expect(acl.permitsSubscription(to: "$share/g/alice/x", client: alice))
        #expect(!acl.permitsSubscription(to: "$SYS/#", client: alice))
        #expect(acl.permitsSubscription(to: "$SYS/#", client: Self.client("bob")))
    }

    @Test("Errors name the file and line")
    func errors() {
        func failure(_ text: String) -> SecurityFileError? {
            do {
                _ = try AccessControlList(contents: text, file: "acl")
                return nil
            } catch {
                return error
            }
        }
        #expect(failure("user alice\ntopic read a/#/b") == SecurityFileError(
            file: "acl", line: 2, message: "invalid topic filter 'a/#/b': '#' must be the last level of 'a/#/b'"
        ) || failure("user alice\ntopic read a/#/b")?.line == 2)
        #expect(failure("topics read a")?.line == 1)
        #expect(failure("user a\ntopic sometimes b")?.message == "'sometimes' is not an access (read, write, readwrite or deny)")
        #expect(try! AccessControlList(contents: "user a\ntopic read with space/x", file: "acl")
            .permits(.read, topic: "with space/x", client: Self.client("a")))
        #expect(failure("user")?.line == 1)
        #expect(failure("\n\ntopic read")?.line == 3)
    }
}
