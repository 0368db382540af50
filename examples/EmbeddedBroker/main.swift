// Embeds a Parley broker in a Swift program: MQTT clients connect to it on port 1883 (or the
// port given as the first argument), while the program itself publishes and subscribes inline.
//
//   swift run EmbeddedBroker 1884
//   mosquitto_sub -p 1884 -t 'greetings/#' -v
import Logging
import MQTTBroker
import MQTTCore

let port = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 1883
var configuration = BrokerConfiguration()
configuration.listeners = [ListenerConfiguration(port: port, host: "127.0.0.1")]

let broker = Broker(configuration: configuration, logger: Logger(label: "embedded"))
try await broker.start()

// Everything published to `commands/#`, by any MQTT client, arrives here.
let commands = try broker.client.subscribe("commands/#", qos: .atLeastOnce)
let listener = Task {
    for await message in commands {
        print("command on \(message.topic): \(message.payloadString)")
        try broker.client.publish("greetings/reply", "done: \(message.payloadString)", qos: .atLeastOnce)
        if message.payloadString == "stop" { break }
    }
}

try broker.client.publish("greetings/hello", "Parley is up on port \(port)", qos: .atLeastOnce, retain: true)
print("broker on 127.0.0.1:\(port); publish 'stop' to commands/x to end")
try await listener.value
try await broker.shutdown()
