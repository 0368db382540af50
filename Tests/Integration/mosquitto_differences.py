"""Where Parley answers Mosquitto's packet-level test data differently, and why.

Each entry is a case of Mosquitto's ``test/broker/data`` (see
``mosquitto_sequences.py``) that Parley fails on purpose: the specification
decides the answer, and Mosquitto's differs. Everywhere else Parley sends the
bytes Mosquitto sends. The README's "Differences from Mosquitto" table is this
list; ``test_mosquitto_sequences.py`` checks that the two agree.
"""

SUBSCRIPTION_ID_FROM_CLIENT = (
    "DISCONNECT 0x82", "MQTT-3.3.4-6: a PUBLISH from a client MUST NOT contain a Subscription "
    "Identifier (Mosquitto accepts it and answers PUBACK 0x10)")
EMPTY_PAYLOAD_SUBSCRIBE = (
    "DISCONNECT 0x82", "MQTT 5 §3.8.3, MQTT-3.8.3-2: \"A SUBSCRIBE packet with no Payload is a "
    "Protocol Error\" (Mosquitto: 0x81)")

DIFFERENCES = {
    "v5.0   PUBLISH ALLOWED PROPERTIES subscription-identifier=1 (variable byte integer)": SUBSCRIPTION_ID_FROM_CLIENT,
    "v5.0   PUBLISH ALLOWED PROPERTIES subscription-identifier=0x7F (variable byte integer)": SUBSCRIPTION_ID_FROM_CLIENT,
    "v5.0   PUBLISH ALLOWED PROPERTIES subscription-identifier=0x8001 (variable byte integer)": SUBSCRIPTION_ID_FROM_CLIENT,
    "v5.0   PUBLISH ALLOWED PROPERTIES subscription-identifier=0xFF7F (variable byte integer)": SUBSCRIPTION_ID_FROM_CLIENT,
    "v5.0   PUBLISH ALLOWED PROPERTIES subscription-identifier=0x808001 (variable byte integer)": SUBSCRIPTION_ID_FROM_CLIENT,
    "v5.0   PUBLISH ALLOWED PROPERTIES subscription-identifier=0xFFFF7F (variable byte integer)": SUBSCRIPTION_ID_FROM_CLIENT,
    "v5.0   PUBLISH ALLOWED PROPERTIES subscription-identifier=0x80808001 (variable byte integer)": SUBSCRIPTION_ID_FROM_CLIENT,
    "v5.0   PUBLISH ALLOWED PROPERTIES subscription-identifier=0xFFFFFF7F (variable byte integer)": SUBSCRIPTION_ID_FROM_CLIENT,
    "v5.0   PUBLISH 30 topic 0": (
        "DISCONNECT 0x82", "MQTT 5 §3.3.2.3.4: \"It is a Protocol Error if the Topic Name is zero "
        "length and there is no Topic Alias\" (Mosquitto: 0x81)"),
    "v5.0   SUBSCRIBE 82 QoS 3 [MQTT-3-8.3-2] (no topic or qos)": EMPTY_PAYLOAD_SUBSCRIBE,
    "v5.0   SUBSCRIBE 82 short 3": EMPTY_PAYLOAD_SUBSCRIBE,
    "v5.0   UNSUBSCRIBE A2 short 3 [MQTT-3.10.3-2]": (
        "DISCONNECT 0x82", "MQTT 5 §3.10.3, MQTT-3.10.3-2: \"An UNSUBSCRIBE packet with no Payload "
        "is a Protocol Error\" (Mosquitto: 0x81)"),
    "v5.0   SUBSCRIBE 82 QoS 0 retain handling=3 0x30 [MQTT-3-8.3-4]": (
        "DISCONNECT 0x82", "MQTT 5 §3.8.3.1: \"It is a Protocol Error to send a Retain Handling "
        "value of 3\" (Mosquitto: 0x81)"),
    "v5.0   SUBSCRIBE ALLOWED PROPERTIES 82 with subscription-identifier=0 (variable byte integer)": (
        "DISCONNECT 0x82", "MQTT 5 §3.8.2.1.2: \"It is a Protocol Error if the Subscription "
        "Identifier has a value of 0\" (Mosquitto: 0x81)"),
    "v5.0   PINGREQ C0 long": (
        "DISCONNECT 0x81, then close", "MQTT 5 §4.13.1: on a malformed packet the server SHOULD "
        "send DISCONNECT with the reason code before closing (Mosquitto closes without one)"),
    "v5.0   PINGRESP D0 long": (
        "DISCONNECT 0x82, then close", "MQTT 5 §4.13.1: the server SHOULD send DISCONNECT with "
        "the reason code before closing (Mosquitto closes without one)"),
}
