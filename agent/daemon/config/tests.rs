use super::*;

fn load(text: &str) -> Result<LoadedConfig, ConfigErrors> {
    LoadedConfig::from_yaml(text, "vitals.yaml", |name| match name {
        "TOKEN" => Some("s3cret-value".into()),
        _ => None,
    })
}

fn errors(text: &str) -> Vec<String> {
    match load(text) {
        Ok(_) => vec![],
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn embedded_default_is_valid() {
    let cfg = LoadedConfig::from_yaml(EMBEDDED_DEFAULT, EMBEDDED_NAME, |_| None)
        .expect("embedded default must load");
    assert_eq!(cfg.server.listen.port(), 9470);
    assert_eq!(cfg.probes.targets.len(), 1);
    assert_eq!(cfg.probes.targets[0].name, "vitals");
}

#[test]
fn empty_file_gives_defaults() {
    let cfg = load("").expect("empty config is valid");
    assert_eq!(cfg.config.probes.defaults.interval.to_string(), "15s");
    assert!(cfg.probes.targets.is_empty());
}

#[test]
fn unknown_key_is_reported_with_position_and_path() {
    let errs = errors("server:\n  listen: \"127.0.0.1:1\"\n  lisen: x\n");
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("vitals.yaml:3:3: server.lisen: unknown field `lisen`"),
        "{}",
        errs[0]
    );
}

#[test]
fn bad_duration_is_reported_with_position() {
    let errs = errors("probes:\n  defaults:\n    interval: 15\n");
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("vitals.yaml:3:15: probes.defaults.interval: "),
        "{}",
        errs[0]
    );
    assert!(errs[0].contains("is not a duration"), "{}", errs[0]);
}

#[test]
fn malformed_yaml_is_reported_with_position() {
    let errs = errors("probes:\n  targets: [\n");
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].starts_with("vitals.yaml:"), "{}", errs[0]);
}

#[test]
fn every_validation_error_is_reported_at_once() {
    let text = r#"
server:
  listen: "nowhere"
probes:
  targets:
    - name: api
      url: "ftp://x/health"
    - name: api
      tcp: "db"
    - name: both
      url: "http://a/"
      tcp: "a:1"
    - name: labels
      url: "http://a/"
      timeout: 20s
      labels: {"1bad": x, instance: y}
"#;
    let errs = errors(text);
    let expect = [
        "vitals.yaml:3:11: server.listen: \"nowhere\" is not an address",
        "vitals.yaml:7:12: probes.targets[0].url: \"ftp://x/health\" is not an http:// or https:// URL",
        "vitals.yaml:8:13: probes.targets[1].name: duplicate probe name \"api\"",
        "vitals.yaml:9:12: probes.targets[1].tcp: \"db\" is not host:port",
        "vitals.yaml:12:12: probes.targets[2].tcp: set only one of url, tcp and grpc",
        "vitals.yaml:15:16: probes.targets[3].timeout: timeout (20s) must not be longer than interval (15s)",
        "vitals.yaml:16:24: probes.targets[3].labels.1bad: \"1bad\" is not a valid label name",
        "vitals.yaml:16:37: probes.targets[3].labels.instance: \"instance\" is set by vitals itself",
    ];
    assert_eq!(errs.len(), expect.len(), "{errs:#?}");
    for (got, want) in errs.iter().zip(expect) {
        assert!(got.starts_with(want), "got {got}\nwant {want}");
    }
}

#[test]
fn env_expansion_and_secrets_stay_out_of_debug_output() {
    let cfg = load("server:\n  api_token: \"${TOKEN}\"\n").expect("valid");
    assert_eq!(cfg.config.server.api_token.expose(), "s3cret-value");
    assert!(!format!("{cfg:?}").contains("s3cret-value"));
}

#[test]
fn unset_env_var_is_an_error_with_position() {
    let errs = errors("server:\n  api_token: \"${MISSING}\"\n");
    assert_eq!(
        errs,
        [
            "vitals.yaml:2:15: environment variable MISSING is not set (give a default with ${MISSING:-default})"
        ]
    );
}

#[test]
fn api_token_file_is_read_and_its_content_never_in_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("token");
    std::fs::write(&path, "from-file\n").expect("write");
    let cfg = load(&format!("server:\n  api_token_file: {:?}\n", path)).expect("valid");
    assert_eq!(cfg.config.server.api_token.expose(), "from-file");

    let errs = errors(&format!(
        "server:\n  api_token: \"${{TOKEN}}\"\n  api_token_file: {:?}\n",
        path
    ));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].contains("set either api_token or api_token_file"));
    assert!(!errs[0].contains("s3cret") && !errs[0].contains("from-file"));
}

#[test]
fn schema_errors_in_several_sections_and_targets_are_all_reported() {
    let text = "server:\n  lisen: x\nprobes:\n  targets:\n    - {name: a, url: \"http://a/\", intervall: 5s}\n    - {name: b, tcp: \"b:1\"}\n    - {name: c, tcp: \"c:1\", timeout: 5}\nbogus: 1\n";
    let errs = errors(text);
    assert_eq!(errs.len(), 4, "{errs:#?}");
    assert!(
        errs[0].starts_with("vitals.yaml:2:3: server.lisen: unknown field `lisen`"),
        "{}",
        errs[0]
    );
    assert!(errs[1].starts_with("vitals.yaml:5:"), "{}", errs[1]);
    assert!(
        errs[1].contains("probes.targets[0].intervall: unknown field `intervall`"),
        "{}",
        errs[1]
    );
    assert!(errs[2].starts_with("vitals.yaml:7:"), "{}", errs[2]);
    assert!(errs[2].contains("probes.targets[2]"), "{}", errs[2]);
    assert!(errs[3].starts_with("vitals.yaml:8:"), "{}", errs[3]);
    assert!(
        errs[3].contains("bogus: unknown field `bogus`"),
        "{}",
        errs[3]
    );
}

#[test]
fn env_values_are_literal_strings_never_yaml() {
    // The tester's two examples: an escape in the value is kept as written, and a value
    // holding `", key: "` does not add a key.
    let env = |name: &str| match name {
        "TOK" => Some(r"s3cr\x41t".to_string()),
        "INJECT" => Some(r#"x", listen: "0.0.0.0:1"#.to_string()),
        "PORT_TOKEN" => Some("8080".to_string()),
        _ => None,
    };
    for (text, want) in [
        ("server:\n  api_token: \"${TOK}\"\n", r"s3cr\x41t"),
        ("server:\n  api_token: '${TOK}'\n", r"s3cr\x41t"),
        ("server:\n  api_token: ${TOK}\n", r"s3cr\x41t"),
        (
            "server:\n  api_token: \"${INJECT}\"\n",
            r#"x", listen: "0.0.0.0:1"#,
        ),
        (
            "server:\n  api_token: ${INJECT}\n",
            r#"x", listen: "0.0.0.0:1"#,
        ),
        ("server:\n  api_token: ${PORT_TOKEN}\n", "8080"),
    ] {
        let cfg = LoadedConfig::from_yaml(text, "vitals.yaml", env).expect(text);
        assert_eq!(cfg.config.server.api_token.expose(), want, "{text}");
        assert_eq!(cfg.server.listen.port(), 9470, "{text}");
    }
}

#[test]
fn plain_env_values_keep_numbers_and_durations_working() {
    let env = |name: &str| match name {
        "MAX" => Some("1234".to_string()),
        "RET" => Some("36h".to_string()),
        _ => None,
    };
    let text = "storage:\n  max_series: ${MAX}\n  retention: ${RET}\n";
    let cfg = LoadedConfig::from_yaml(text, "vitals.yaml", env).expect("valid");
    assert_eq!(cfg.store.max_series, 1234);
    assert_eq!(cfg.store.retention.as_secs(), 36 * 3600);
}

#[test]
fn deeply_nested_yaml_is_refused_with_position() {
    let n = 30_000;
    let text = format!("probes:\n  targets: {}{}\n", "[".repeat(n), "]".repeat(n));
    let errs = errors(&text);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].starts_with("vitals.yaml:2:"), "{}", errs[0]);
    assert!(
        errs[0].ends_with(": YAML is nested too deeply (more than 64 levels)"),
        "{}",
        errs[0]
    );

    let mut text = String::from("probes:\n");
    for i in 1..1000 {
        text.push_str(&format!("{}k{i}:\n", " ".repeat(i)));
    }
    assert_eq!(
        errors(&text),
        ["vitals.yaml:65:65: YAML is nested too deeply (more than 64 levels)"]
    );
}

#[test]
fn listeners_on_the_same_port_are_an_error_at_the_later_one() {
    let errs = errors(
        "server: {listen: \"0.0.0.0:9470\"}\notlp: {grpc_listen: \"127.0.0.1:9470\", http_listen: \"127.0.0.1:4318\"}\n",
    );
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].contains("otlp.grpc_listen")
            && errs[0].contains("clashes with server.listen (0.0.0.0:9470)")
            && errs[0].starts_with("vitals.yaml:2:"),
        "{errs:?}"
    );
    // Different addresses on the same port, and ephemeral ports, do not clash.
    assert!(errors("server: {listen: \"127.0.0.1:9470\"}\notlp: {grpc_listen: \"127.0.0.2:9470\", http_listen: \"127.0.0.1:0\"}\n").is_empty());
    assert!(errors("server: {listen: \"127.0.0.1:0\"}\notlp: {grpc_listen: \"127.0.0.1:0\", http_listen: \"127.0.0.1:0\"}\n").is_empty());
}

#[test]
fn a_rule_glob_matching_nothing_is_a_located_warning() {
    let cfg = load("rules:\n  files: [\"no-such-dir/*.yml\"]\n").expect("run accepts it");
    assert_eq!(cfg.warnings.0.len(), 1);
    let w = cfg.warnings.0[0].to_string();
    assert!(
        w.starts_with("vitals.yaml:2:")
            && w.contains("rules.files[0]")
            && w.contains("matches no file"),
        "{w}"
    );
    // The embedded default falls back to its built-in rules: no warning.
    let cfg = LoadedConfig::from_yaml(EMBEDDED_DEFAULT, EMBEDDED_NAME, |_| None).expect("default");
    assert!(cfg.warnings.0.is_empty(), "{:?}", cfg.warnings);
}

/// The issue's case: one broken file used to take three rounds (serde stopped at the first
/// error of a section, and validation ran only once every section deserialised). Now schema
/// errors of every field, nested ones at their own key, and the validation errors of the
/// parts that did deserialise come in one pass.
#[test]
fn schema_and_validation_errors_of_every_section_come_in_one_pass() {
    let text = "\
server:
  listen: \"127.0.0.1:9470\"
  shutdown_grace: 10x
  query_max_samples: -1
  connections: {max: 10, idle_timeout: soon}
storage:
  retention: 1m
probes:
  targets:
    - {name: a, url: \"not a url\"}
    - {name: b, tcp: \"b:1\", timeout: 5}
rules:
  evaluation_interval: 0s
";
    let errs = errors(text);
    let want = [
        "vitals.yaml:3:19: server.shutdown_grace: ",
        "vitals.yaml:4:22: server.query_max_samples: ",
        "vitals.yaml:5:40: server.connections.idle_timeout: ",
        "vitals.yaml:7:14: storage.retention: 1m is shorter",
        "vitals.yaml:10:22: probes.targets[0].url: ",
        "vitals.yaml:11:38: probes.targets[1].timeout: ",
        "vitals.yaml:13:24: rules.evaluation_interval: ",
    ];
    assert_eq!(errs.len(), want.len(), "{errs:#?}");
    for (e, w) in errs.iter().zip(want) {
        assert!(e.starts_with(w), "{e}\n  wanted {w}");
    }
}

/// A field left out for a schema error is not validated as its default: no errors about
/// values nobody wrote (review of the one-pass change: a default `timeout` of 5s against the
/// written `interval: 2s` was reported for every target).
#[test]
fn a_field_left_out_makes_up_no_errors() {
    let errs = errors(
        "probes:\n  defaults: {interval: 2s, timeout: 1}\n  targets:\n    - {name: a, tcp: \"a:1\"}\n    - {name: b, tcp: \"b:1\"}\n",
    );
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(errs[0].contains("probes.defaults.timeout"), "{}", errs[0]);
}

/// A required field missing inside a nested setting is reported at that setting.
#[test]
fn a_missing_nested_field_is_reported_where_it_is_missing() {
    let errs = errors("server:\n  listen: \"127.0.0.1:1\"\n  tls: {cert_file: c.pem}\n");
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        errs[0].contains("server.tls: missing field `key_file`"),
        "{}",
        errs[0]
    );
}
