import MQTTBroker
