// libmosquitto's client API. mosquitto.h does not include mqtt_protocol.h, where the MQTT 5
// property identifiers and subscription options live, so both are exposed here.
#include <mosquitto.h>
#include <mqtt_protocol.h>
