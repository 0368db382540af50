import MQTTBroker
extension ParleyConfiguration {
    /// Real Mosquitto (2.0 / 2.1) configuration keys that Parley does not implement yet.
    /// A file using one of them is rejected with
    /// ``ConfigurationError/Kind/unsupportedKey`` ("key 'cafile' is not supported by
    /// Parley yet") rather than the "unknown configuration key" error for typos.
    /// Keys starting with one of ``unsupportedMosquittoKeyPrefixes`` are treated the
    /// same way.
    public static let unsupportedMosquittoKeys: Set<String> = [
        // Listener options
        "bind_interface", "socket_domain", "mount_point", "max_qos", "maximum_qos",
        "http_dir", "websockets_headers_size", "websockets_log_level", "websockets_origin",
        "use_username_as_clientid", "accept_protocol_versions", "enable_proxy_protocol",
        "proxy_protocol_v2_require_tls",
        // TLS
        "ciphers_tls1.3", "crlfile", "dhparamfile", "tls_engine", "tls_engine_kpass_sha1", "tls_keyform",
        "disable_client_cert_date_checks", "psk_hint", "psk_file",
        // Authentication and plugins
        "auth_plugin", "auth_plugin_deny_special_chars", "plugin", "plugin_load", "plugin_use",
        "global_plugin", "enable_control_api", "allow_zero_length_clientid", "auto_id_prefix",
        "clientid_prefixes", "check_retain_source",
        // Broker behaviour
        "upgrade_outgoing_qos", "global_max_clients", "global_max_connections",
        // Bridge options beyond the supported ones
        "bridge_attempt_unsubscribe", "bridge_bind_address", "bridge_alpn", "bridge_identity", "bridge_psk",
        "bridge_require_ocsp", "bridge_tls_version", "bridge_ciphers", "bridge_ciphers_tls1.3",
        "bridge_max_packet_size", "bridge_max_topic_alias", "bridge_outgoing_retain", "bridge_receive_maximum",
        "bridge_reload_type", "bridge_session_expiry_interval", "bridge_tcp_keepalive", "bridge_tcp_user_timeout",
        "bridge_tls_use_os_certs", "local_cleansession", "local_clientid", "local_username", "local_password",
        "idle_timeout", "notifications_local_only", "start_type", "threshold", "max_topic_alias_broker",
    ]

    /// Key prefixes of Mosquitto option families that Parley does not implement yet
    /// (plugin options, and bridge settings beyond the supported `bridge_` keys).
    public static let unsupportedMosquittoKeyPrefixes: [String] = ["auth_opt_", "plugin_opt_", "bridge_"]

    /// Whether `key` is a Mosquitto key that Parley does not support yet.
    public static func isUnsupportedMosquittoKey(_ key: String) -> Bool {
        keysByName[key] == nil
            && (unsupportedMosquittoKeys.contains(key) || unsupportedMosquittoKeyPrefixes.contains { key.hasPrefix($0) })
    }
}
