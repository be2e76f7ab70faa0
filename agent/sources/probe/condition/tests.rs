use std::time::Duration;

use proptest::prelude::*;

use super::*;

fn c(s: &str) -> Condition {
    match Condition::parse(s) {
        Ok(c) => c,
        Err(e) => panic!("{s:?} should parse: {e}"),
    }
}

fn parse_err(s: &str) -> String {
    match Condition::parse(s) {
        Ok(c) => panic!("{s:?} should not parse, got {:?}", c.expr),
        Err(e) => e.0,
    }
}

fn http(status: u16, body: &str) -> Observation<'_> {
    Observation {
        status: Some(status),
        body: Some(body.as_bytes()),
        response_time: Duration::from_millis(120),
        cert_expiry: None,
        connected: true,
        grpc_status: None,
    }
}

fn holds(cond: &str, obs: &Observation<'_>) -> bool {
    c(cond).evaluate(obs).is_ok()
}

fn reason(cond: &str, obs: &Observation<'_>) -> String {
    match c(cond).evaluate(obs) {
        Ok(()) => panic!("{cond:?} should not hold"),
        Err(r) => r,
    }
}

// ----- parsing: subjects and spellings ----------------------------------------------------

#[test]
fn parses_every_subject() {
    for s in [
        "status == 200",
        "[STATUS] == 200",
        "Status < 400",
        "status == any(200, 429)",
        "response_time < 500ms",
        "[RESPONSE_TIME] < 500",
        "cert_expiry > 14d",
        "[CERTIFICATE_EXPIRATION] > 48h",
        "body == OK",
        "[BODY] == OK",
        "body.status == UP",
        "[BODY].status == UP",
        "body.data[0].id == 1",
        "body.items[2] == x",
        "body[0] == x",
        "body[\"a.b\"] == x",
        "len(body.items) > 0",
        "len([BODY].items) > 0",
        "len(body) == 2",
        "has(body.x) == true",
        "has([BODY].x) == false",
        "connected == true",
        "[CONNECTED] == true",
        "grpc_status == SERVING",
        "grpc_status != any(NOT_SERVING, UNKNOWN)",
        "status<400",
        "  status   ==   200  ",
    ] {
        c(s);
    }
}

#[test]
fn text_is_as_written() {
    let cond = c("  [STATUS]==200 ");
    assert_eq!(cond.text(), "  [STATUS]==200 ");
    assert_eq!(cond.to_string(), "  [STATUS]==200 ");
}

#[test]
fn paths() {
    let cond = c("body.data[0].id == 1");
    assert_eq!(
        cond.expr,
        Expr::Body(
            vec![
                Seg::Key("data".into()),
                Seg::Index(0),
                Seg::Key("id".into())
            ],
            Op::Eq,
            Rhs::One(Lit::Bare("1".into()))
        )
    );
    let cond = c("body['a.b'][\"c\"] == 1");
    assert!(
        matches!(&cond.expr, Expr::Body(p, ..) if *p == vec![Seg::Key("a.b".into()), Seg::Key("c".into())])
    );
    // Keys keep their case; subject names do not matter.
    let cond = c("BODY.Status == UP");
    assert!(matches!(&cond.expr, Expr::Body(p, ..) if *p == vec![Seg::Key("Status".into())]));
}

#[test]
fn values() {
    assert!(
        matches!(c("body == \"a b\"").expr, Expr::Body(_, _, Rhs::One(Lit::Quoted(ref s))) if s == "a b")
    );
    assert!(
        matches!(c("body == 'UP'").expr, Expr::Body(_, _, Rhs::One(Lit::Quoted(ref s))) if s == "UP")
    );
    assert!(
        matches!(c(r#"body == "say \"hi\"""#).expr, Expr::Body(_, _, Rhs::One(Lit::Quoted(ref s))) if s == "say \"hi\"")
    );
    assert!(
        matches!(c("body == pat(*UP*)").expr, Expr::Body(_, _, Rhs::Pat(ref p)) if p == "*UP*")
    );
    assert!(
        matches!(c("body == PAT(\"*a b*\")").expr, Expr::Body(_, _, Rhs::Pat(ref p)) if p == "*a b*")
    );
    assert!(
        matches!(c("body == any(a, \"b, c\", 3)").expr, Expr::Body(_, _, Rhs::Any(ref v)) if v.len() == 3)
    );
    assert_eq!(
        c("status == any(200, 429)").expr,
        Expr::Status(Op::Eq, Numbers::Any(vec![200, 429]))
    );
    assert_eq!(
        c("has(body.x) != true").expr,
        Expr::Has(vec![Seg::Key("x".into())], false)
    );
    assert_eq!(c("connected == TRUE").expr, Expr::Connected(true));
    assert_eq!(
        c("grpc_status == serving").expr,
        Expr::Grpc(true, vec!["SERVING".into()])
    );
}

#[test]
fn durations() {
    let secs = |s: &str| match c(&format!("response_time < {s}")).expr {
        Expr::ResponseTime(_, v) => v,
        other => panic!("{other:?}"),
    };
    assert_eq!(secs("500ms"), 0.5);
    assert_eq!(secs("500"), 0.5);
    assert_eq!(secs("1s"), 1.0);
    assert_eq!(secs("1.5s"), 1.5);
    assert_eq!(secs("1m"), 60.0);
    assert_eq!(secs("1h30m"), 5400.0);
    assert_eq!(secs("2d"), 172_800.0);
    assert_eq!(secs("1w"), 604_800.0);
    assert_eq!(secs("250us"), 0.00025);
    match c("cert_expiry > 14d").expr {
        Expr::CertExpiry(Op::Gt, v) => assert_eq!(v, 14.0 * 86400.0),
        other => panic!("{other:?}"),
    }
}

// ----- parsing: errors --------------------------------------------------------------------

#[test]
fn error_messages() {
    let cases: &[(&str, &str)] = &[
        ("", "empty condition"),
        ("   ", "empty condition"),
        ("status 200", "missing operator"),
        ("status", "missing operator"),
        ("status = 200", "use =="),
        ("status ! 200", "use !="),
        ("== 200", "missing subject"),
        ("status ==", "missing value"),
        (
            "stauts == 200",
            "\"stauts == 200\": unknown subject stauts (expected status, body, body.<path>, \
             response_time, cert_expiry, len(...), has(...), connected, grpc_status)",
        ),
        ("bodyx == 1", "unknown subject bodyx"),
        ("[IP] == 127.0.0.1", "unknown subject [IP]"),
        (
            "status == abc",
            "\"status == abc\": status compares with a number, e.g. status == 200",
        ),
        ("status == 200.5", "whole number"),
        ("status == \"200\"", "status compares with a number"),
        (
            "status < any(200, 300)",
            "any(...) and pat(...) take == or !=",
        ),
        ("status == any(200, x)", "status compares with a number"),
        ("status == any()", "empty any()"),
        ("status == any(200,)", "empty value in any"),
        ("status == any(200, 300", "must be closed"),
        ("status == pat(2*)", "pat(...) applies to body"),
        ("body.x < any(1, 2)", "take == or !="),
        ("body.x >= pat(*a*)", "take == or !="),
        ("body.x < UP", "compares numbers, not UP"),
        ("body.x < \"5\"", "not a quoted string"),
        ("body == pat()", "empty pattern"),
        ("body == any(any(1))", "plain values"),
        ("body.x == \"UP", "unbalanced quote"),
        ("body.x == 'UP\"", "unbalanced quote"),
        ("body[\"x == 1", "unbalanced quote"),
        ("body.x == \"UP\" extra", "after the quoted value"),
        ("body.x == all good", "contains spaces; quote it"),
        ("body.x == a(b", "unexpected '('"),
        ("body.x == 1)", "unexpected parenthesis"),
        ("len(body.items > 0", "unbalanced brackets"),
        ("body.x) == 1", "unbalanced ')'"),
        ("body. == 1", "empty key"),
        ("body..x == 1", "empty key"),
        ("body[x] == 1", "takes an index"),
        ("body[1 == 1", "unbalanced brackets"),
        ("body.a b == 1", "unexpected ' '"),
        ("len(body.items) == x", "len(...) compares with a number"),
        ("len(status) > 0", "takes body or a path"),
        ("len(body.items)x > 0", "must be closed"),
        ("has(body) == true", "needs a path"),
        ("has(body.x) == yes", "true or false"),
        ("has(body.x) > true", "takes == or !="),
        ("connected == 1", "true or false"),
        ("connected < true", "takes == or !="),
        ("response_time < fast", "bad duration fast"),
        ("response_time < 5M", "bad duration 5M"),
        ("response_time < -5s", "bad duration"),
        ("response_time < 1.s", "bad duration"),
        ("response_time < any(1s, 2s)", "one duration"),
        ("cert_expiry > \"14d\"", "one duration"),
        ("cert_expiry > 14 days", "contains spaces"),
        ("grpc_status == OK", "grpc_status compares with SERVING"),
        ("grpc_status < SERVING", "takes == or !="),
        ("grpc_status == pat(S*)", "pat(...) applies to body"),
        ("status == 200 == 300", "contains an operator"),
    ];
    for (input, want) in cases {
        let got = parse_err(input);
        assert!(got.contains(want), "{input:?}: {got:?} lacks {want:?}");
    }
}

#[test]
fn errors_quote_the_condition() {
    let e = parse_err("body.x < UP");
    assert!(e.starts_with("\"body.x < UP\": "), "{e}");
}

// ----- check_kind / needs_body ------------------------------------------------------------

#[test]
fn kinds() {
    use ProbeKind::*;
    let table: &[(&str, &[ProbeKind])] = &[
        ("status == 200", &[Http]),
        ("body == OK", &[Http]),
        ("body.x == 1", &[Http]),
        ("len(body) > 0", &[Http]),
        ("has(body.x) == true", &[Http]),
        ("grpc_status == SERVING", &[Grpc]),
        ("cert_expiry > 1d", &[Http]),
        ("response_time < 1s", &[Http, Tcp, Grpc]),
        ("connected == true", &[Http, Tcp, Grpc]),
    ];
    for (s, ok) in table {
        for kind in [Http, Tcp, Grpc] {
            let got = c(s).check_kind(kind);
            assert_eq!(got.is_ok(), ok.contains(&kind), "{s} on {kind:?}: {got:?}");
        }
    }
    assert_eq!(
        c("status == 200").check_kind(Tcp),
        Err(ConditionError(
            "\"status == 200\": status applies to url (HTTP) targets only".into()
        ))
    );
    let e = c("grpc_status == SERVING").check_kind(Http);
    assert!(e.is_err_and(|e| e.0.contains("grpc_status applies to grpc targets only")));
    let e = c("cert_expiry > 1d").check_kind(Tcp);
    assert!(e.is_err_and(|e| {
        e.0.contains("cert_expiry applies to url (HTTP) targets only")
    }));
}

#[test]
fn needs_body() {
    for s in [
        "body == x",
        "[BODY].a == 1",
        "len(body) > 0",
        "has(body.a) == true",
    ] {
        assert!(c(s).needs_body(), "{s}");
    }
    for s in [
        "status == 200",
        "response_time < 1s",
        "cert_expiry > 1d",
        "connected == true",
        "grpc_status == SERVING",
    ] {
        assert!(!c(s).needs_body(), "{s}");
    }
}

// ----- evaluation -------------------------------------------------------------------------

#[test]
fn status() {
    let obs = http(503, "");
    assert!(holds("status == 503", &obs));
    assert!(holds("status >= 500", &obs));
    assert!(holds("status != 200", &obs));
    assert!(holds("status == any(503, 504)", &obs));
    assert!(holds("status != any(200, 204)", &obs));
    assert_eq!(reason("status < 400", &obs), "status is 503");
    assert_eq!(reason("[STATUS] == any(200, 204)", &obs), "[STATUS] is 503");
    assert_eq!(reason("status != any(503)", &obs), "status is 503");
    let none = Observation::default();
    assert_eq!(reason("status == 200", &none), "no HTTP response");
}

#[test]
fn response_time() {
    let mut obs = http(200, "");
    obs.response_time = Duration::from_millis(812);
    assert!(holds("response_time < 1s", &obs));
    assert!(holds("response_time <= 812", &obs));
    assert!(holds("response_time > 0.5s", &obs));
    assert_eq!(
        reason("response_time < 500ms", &obs),
        "response_time is 812ms"
    );
    obs.response_time = Duration::from_millis(2350);
    assert_eq!(reason("response_time < 1s", &obs), "response_time is 2.35s");
    obs.response_time = Duration::from_secs(65);
    assert_eq!(
        reason("[RESPONSE_TIME] < 1s", &obs),
        "[RESPONSE_TIME] is 1m 5s"
    );
}

#[test]
fn cert_expiry() {
    let mut obs = http(200, "");
    assert_eq!(
        reason("cert_expiry > 14d", &obs),
        "no TLS certificate (the target is not https)"
    );
    obs.cert_expiry = Some(3.0 * 86400.0 + 4.0 * 3600.0 + 12.0);
    assert!(holds("cert_expiry > 48h", &obs));
    assert!(holds("[CERTIFICATE_EXPIRATION] < 1w", &obs));
    assert_eq!(
        reason("cert_expiry > 14d", &obs),
        "certificate expires in 3d 4h"
    );
    obs.cert_expiry = Some(-7500.0);
    assert_eq!(
        reason("cert_expiry > 0s", &obs),
        "certificate expired 2h 5m ago"
    );
    obs.cert_expiry = Some(90.0);
    assert_eq!(
        reason("cert_expiry > 1h", &obs),
        "certificate expires in 1m 30s"
    );
}

#[test]
fn whole_body() {
    let obs = http(200, "  OK\n");
    assert!(holds("body == OK", &obs));
    assert!(holds("[BODY] == \"OK\"", &obs));
    assert!(holds("body != DOWN", &obs));
    assert!(holds("body == pat(O?)", &obs));
    assert!(holds("body == any(UP, OK)", &obs));
    assert_eq!(reason("body == UP", &obs), "body is \"OK\"");
    assert_eq!(reason("body < 5", &obs), "body is \"OK\", not a number");
    let num = http(200, "42");
    assert!(holds("body > 41", &num));
    assert!(holds("body == 42.0", &num));
    let none = Observation {
        status: Some(200),
        ..Observation::default()
    };
    assert_eq!(reason("body == OK", &none), "no response body");
    assert_eq!(reason("body.x == OK", &none), "no response body");
    assert_eq!(reason("len(body) > 0", &none), "no response body");
}

#[test]
fn json_paths() {
    let body = r#"{"status":"UP","ok":true,"n":1,"f":1.5,"s":"7","nil":null,
                   "data":[{"id":3},{"id":4}],"items":[],"obj":{"a":1,"b":2},
                   "a.b":"dotted","version":"1.10"}"#;
    let obs = http(200, body);
    assert!(holds("body.status == UP", &obs));
    assert!(holds("body.status == \"UP\"", &obs));
    assert!(holds("[BODY].status == 'UP'", &obs));
    assert!(holds("body.status != DOWN", &obs));
    assert!(holds("body.ok == true", &obs));
    assert!(holds("body.ok != false", &obs));
    assert!(holds("body.n == 1", &obs));
    assert!(holds("body.n == 1.0", &obs));
    assert!(holds("body.n < 2", &obs));
    assert!(holds("body.f >= 1.5", &obs));
    assert!(holds("body.s == 7", &obs), "numeric string vs number");
    assert!(holds("body.s > 6", &obs));
    assert!(holds("body.nil == null", &obs));
    assert!(holds("body.data[1].id == 4", &obs));
    assert!(holds("body.data[0] == '{\"id\":3}'", &obs));
    assert!(holds("body[\"a.b\"] == dotted", &obs));
    assert!(holds("body.status == any(UP, OK)", &obs));
    assert!(holds("body.status == pat(U*)", &obs));
    assert!(holds("body.status != pat(D*)", &obs));
    // Quoted values compare as strings.
    assert!(holds("body.version == \"1.10\"", &obs));
    assert!(!holds("body.version == \"1.1\"", &obs));
    assert!(!holds("body.n == \"1.0\"", &obs));

    assert_eq!(reason("body.status == DOWN", &obs), "body.status is \"UP\"");
    assert_eq!(reason("body.n > 5", &obs), "body.n is 1");
    assert_eq!(reason("body.ok == false", &obs), "body.ok is true");
    assert_eq!(reason("body.missing == 1", &obs), "body.missing is missing");
    assert_eq!(reason("body.missing != 1", &obs), "body.missing is missing");
    assert_eq!(
        reason("body.data[5].id == 1", &obs),
        "body.data[5].id is missing"
    );
    assert_eq!(
        reason("body.status.x == 1", &obs),
        "body.status.x is missing"
    );
    assert_eq!(
        reason("body.status > 1", &obs),
        "body.status is \"UP\", not a number"
    );
    assert_eq!(
        reason("body.obj > 1", &obs),
        "body.obj is {\"a\":1,\"b\":2}, not a number"
    );
    assert_eq!(
        reason("[BODY].status == DOWN", &obs),
        "[BODY].status is \"UP\""
    );

    let not_json = http(200, "<html>");
    assert_eq!(reason("body.status == UP", &not_json), "body is not JSON");
    assert_eq!(
        reason("has(body.status) == true", &not_json),
        "body is not JSON"
    );
}

#[test]
fn len_and_has() {
    let obs = http(
        200,
        r#"{"items":[],"list":[1,2,3],"obj":{"a":1},"s":"héllo","n":5}"#,
    );
    assert!(holds("len(body.list) == 3", &obs));
    assert!(holds("len([BODY].list) > 2", &obs));
    assert!(holds("len(body.obj) == 1", &obs));
    assert!(holds("len(body.s) == 5", &obs));
    assert!(holds("len(body) == 5", &obs), "top-level object has 5 keys");
    assert!(holds("len(body.list) == any(3, 4)", &obs));
    assert_eq!(reason("len(body.items) > 0", &obs), "len(body.items) is 0");
    assert_eq!(reason("len(body.nope) > 0", &obs), "body.nope is missing");
    assert_eq!(
        reason("len(body.n) > 0", &obs),
        "body.n is a number, not an array, object or string"
    );
    assert!(
        holds("len(body) == 2", &http(200, " ok ")),
        "plain text length"
    );
    assert!(holds("len(body) == 3", &http(200, "[1,2,3]")));

    assert!(holds("has(body.items) == true", &obs));
    assert!(holds("has(body.nope) == false", &obs));
    assert!(holds("has(body.nope) != true", &obs));
    assert!(holds("has(body.list[2]) == true", &obs));
    assert_eq!(
        reason("has(body.nope) == true", &obs),
        "body.nope is missing"
    );
    assert_eq!(
        reason("has(body.items) == false", &obs),
        "body.items exists"
    );
}

#[test]
fn connected_and_grpc() {
    let mut obs = Observation {
        connected: true,
        grpc_status: Some("SERVING"),
        ..Observation::default()
    };
    assert!(holds("connected == true", &obs));
    assert!(holds("[CONNECTED] != false", &obs));
    assert_eq!(reason("connected == false", &obs), "connected");
    assert!(holds("grpc_status == SERVING", &obs));
    assert!(holds("grpc_status == \"SERVING\"", &obs));
    assert!(holds("grpc_status == any(SERVING, UNKNOWN)", &obs));
    assert_eq!(
        reason("grpc_status != SERVING", &obs),
        "grpc_status is \"SERVING\""
    );
    obs.connected = false;
    obs.grpc_status = Some("NOT_SERVING");
    assert_eq!(reason("connected == true", &obs), "not connected");
    assert_eq!(
        reason("grpc_status == SERVING", &obs),
        "grpc_status is \"NOT_SERVING\""
    );
    obs.grpc_status = None;
    assert_eq!(
        reason("grpc_status == SERVING", &obs),
        "no gRPC health status"
    );
}

#[test]
fn reasons_are_truncated() {
    let long = "x".repeat(5000);
    let obs = http(200, &long);
    let r = reason("body == OK", &obs);
    assert!(r.chars().count() < 120, "{r}");
    assert!(r.ends_with('…'));
    let json = format!("{{\"a\":\"{long}\",\"o\":{{\"k\":\"{long}\"}}}}");
    let obs = http(200, &json);
    assert!(reason("body.a == OK", &obs).chars().count() < 120);
    assert!(reason("body.o == OK", &obs).chars().count() < 120);
}

#[test]
fn evaluation_parses_json_once_and_lazily() {
    let obs = http(200, r#"{"status":"UP","n":2}"#);
    let eval = Evaluation::new(&obs);
    assert!(eval.json.get().is_none());
    assert!(eval.check(&c("status == 200")).is_ok());
    assert!(
        eval.json.get().is_none(),
        "status alone must not parse the body"
    );
    assert!(eval.check(&c("body.status == UP")).is_ok());
    let first: *const Value = eval
        .json()
        .map(|v| v as *const Value)
        .unwrap_or(std::ptr::null());
    assert!(eval.check(&c("body.n == 2")).is_ok());
    let again: *const Value = eval
        .json()
        .map(|v| v as *const Value)
        .unwrap_or(std::ptr::null());
    assert_eq!(first, again);

    let conds = [
        c("status == 200"),
        c("body.status == DOWN"),
        c("body.n > 5"),
    ];
    assert_eq!(
        failures(&conds, &obs),
        vec![
            "body.status is \"UP\"".to_string(),
            "body.n is 2".to_string()
        ]
    );
}

#[test]
fn globs() {
    assert!(glob("*", ""));
    assert!(glob("a*c", "abbbc"));
    assert!(glob("a?c", "abc"));
    assert!(!glob("a?c", "ac"));
    assert!(glob("*UP*", "status: UP!"));
    assert!(!glob("*UP*", "status: DOWN"));
    assert!(glob("h*llo", "héllo"));
    assert!(glob("*a*b*c*", "xxaxxbxxcxx"));
    assert!(!glob("*a*b*c", "xxaxxbxxcxx"));
    assert!(glob("**", "anything"));
    assert!(!glob("", "x"));
}

#[test]
fn numbers_and_truncation_helpers() {
    for s in ["0", "-1", "1.5", "2e3", "1E-2"] {
        assert!(is_number(s), "{s}");
    }
    for s in ["", "-", "1.", ".5", "nan", "inf", "0x10", "1e", "+1", "1 "] {
        assert!(!is_number(s), "{s}");
    }
}

// ----- properties -------------------------------------------------------------------------

fn op_strategy() -> impl Strategy<Value = (&'static str, fn(&i64, &i64) -> bool)> {
    prop_oneof![
        Just(("==", i64::eq as fn(&i64, &i64) -> bool)),
        Just(("!=", i64::ne as fn(&i64, &i64) -> bool)),
        Just(("<", i64::lt as fn(&i64, &i64) -> bool)),
        Just(("<=", i64::le as fn(&i64, &i64) -> bool)),
        Just((">", i64::gt as fn(&i64, &i64) -> bool)),
        Just((">=", i64::ge as fn(&i64, &i64) -> bool)),
    ]
}

/// Conditions that parse: a mix of every subject with generated values.
fn valid_condition() -> impl Strategy<Value = String> {
    let op = prop_oneof![
        Just("=="),
        Just("!="),
        Just("<"),
        Just("<="),
        Just(">"),
        Just(">=")
    ];
    let eq = prop_oneof![Just("=="), Just("!=")];
    let key = "[a-zA-Z_][a-zA-Z0-9_-]{0,8}";
    let odd_key = "[ a-z.\"'\\\\\\[\\]]{0,6}";
    let seg = prop_oneof![
        key.prop_map(|k| format!(".{k}")),
        (0usize..20).prop_map(|i| format!("[{i}]")),
        odd_key.prop_map(|k| format!("[{}]", quote(&k))),
    ];
    let path = prop::collection::vec(seg, 0..4).prop_map(|s| s.concat());
    let word = "[A-Za-z_][A-Za-z0-9_.:/-]{0,8}";
    let text = "[ -~]{0,10}";
    let lit = prop_oneof![
        word.prop_map(String::from),
        any::<i32>().prop_map(|n| n.to_string()),
        (-1000.0f64..1000.0).prop_map(|f| f.to_string()),
        text.prop_map(|s| quote(&s)),
    ];
    let dur = prop_oneof![
        (0u32..100_000).prop_map(|n| n.to_string()),
        (
            0u32..1000,
            prop::sample::select(vec!["ms", "s", "m", "h", "d", "w"])
        )
            .prop_map(|(n, u)| format!("{n}{u}")),
    ];
    prop_oneof![
        (op.clone(), any::<i64>()).prop_map(|(o, n)| format!("status {o} {n}")),
        (eq.clone(), prop::collection::vec(any::<u16>(), 1..4)).prop_map(|(o, ns)| {
            let ns: Vec<String> = ns.iter().map(u16::to_string).collect();
            format!("[STATUS] {o} any({})", ns.join(", "))
        }),
        (op.clone(), dur.clone()).prop_map(|(o, d)| format!("response_time {o} {d}")),
        (op.clone(), dur).prop_map(|(o, d)| format!("[CERTIFICATE_EXPIRATION] {o} {d}")),
        (path.clone(), eq.clone(), lit.clone()).prop_map(|(p, o, l)| format!("body{p} {o} {l}")),
        (path.clone(), op.clone(), any::<i32>()).prop_map(|(p, o, n)| format!("[BODY]{p} {o} {n}")),
        (path.clone(), eq.clone(), prop::collection::vec(lit, 1..4))
            .prop_map(|(p, o, ls)| format!("body{p} {o} any({})", ls.join(", "))),
        (path.clone(), eq.clone(), text)
            .prop_map(|(p, o, t)| format!("body{p} {o} pat({})", quote(&format!("*{t}")))),
        (path.clone(), op, 0u32..100).prop_map(|(p, o, n)| format!("len(body{p}) {o} {n}")),
        (key, eq.clone(), any::<bool>()).prop_map(|(k, o, b)| format!("has(body.{k}) {o} {b}")),
        (eq.clone(), any::<bool>()).prop_map(|(o, b)| format!("connected {o} {b}")),
        (eq, prop::sample::select(GRPC_NAMES.to_vec()))
            .prop_map(|(o, n)| format!("grpc_status {o} {n}")),
    ]
}

proptest! {
    #[test]
    fn parse_never_panics(s in "\\PC{0,60}") {
        let _ = Condition::parse(&s);
    }

    #[test]
    fn parse_never_panics_on_condition_like_text(
        s in "[ a-zA-Z_.\\[\\]()0-9\"'\\\\=!<>,*?-]{0,40}",
    ) {
        if let Ok(cond) = Condition::parse(&s) {
            let _ = cond.evaluate(&http(200, r#"{"a":[1,{"b":"x"}]}"#));
            let _ = cond.evaluate(&Observation::default());
        }
    }

    #[test]
    fn generated_conditions_parse_and_round_trip(s in valid_condition()) {
        let cond = Condition::parse(&s).map_err(|e| TestCaseError::fail(e.0))?;
        prop_assert_eq!(cond.text(), s.as_str());
        prop_assert_eq!(cond.to_string(), s.clone());
        // Display round-trips to the same condition.
        let again = Condition::parse(&cond.to_string()).map_err(|e| TestCaseError::fail(e.0))?;
        prop_assert_eq!(&again, &cond);
        // The normalised spelling parses to the same meaning.
        let canon = cond.canonical();
        let normal = Condition::parse(&canon).map_err(|e| TestCaseError::fail(format!("{canon:?}: {e}")))?;
        prop_assert_eq!(&normal.expr, &cond.expr, "{}", canon);
        prop_assert_eq!(normal.canonical(), canon);
    }

    #[test]
    fn status_agrees_with_rust((op, f) in op_strategy(), status in any::<u16>(), n in any::<i64>()) {
        let cond = Condition::parse(&format!("status {op} {n}")).map_err(|e| TestCaseError::fail(e.0))?;
        let obs = Observation { status: Some(status), ..Observation::default() };
        prop_assert_eq!(cond.evaluate(&obs).is_ok(), f(&i64::from(status), &n));
    }

    #[test]
    fn body_numbers_agree_with_rust((op, f) in op_strategy(), got in any::<i32>(), n in any::<i32>()) {
        let body = format!("{{\"v\":{got}}}");
        let cond = Condition::parse(&format!("body.v {op} {n}")).map_err(|e| TestCaseError::fail(e.0))?;
        prop_assert_eq!(cond.evaluate(&http(200, &body)).is_ok(), f(&i64::from(got), &i64::from(n)));
    }

    #[test]
    fn reasons_stay_short(body in "\\PC{0,400}", key in "[a-z]{1,5}") {
        let json = format!("{{\"{key}\":{}}}", serde_json::Value::String(body.clone()));
        let obs = http(200, &json);
        if let Err(r) = c(&format!("body.{key} == \"\u{1}\"")).evaluate(&obs) {
            prop_assert!(r.chars().count() <= 120, "{}", r);
        }
        let obs = http(200, &body);
        if let Err(r) = c("body == \"\u{1}\"").evaluate(&obs) {
            prop_assert!(r.chars().count() <= 120, "{}", r);
        }
    }
}

#[test]
fn gatus_examples() {
    let obs = Observation {
        status: Some(200),
        body: Some(br#"<html><body>{"x":1}</body></html>"#),
        response_time: Duration::from_millis(80),
        cert_expiry: Some(30.0 * 86400.0),
        connected: true,
        grpc_status: None,
    };
    for s in [
        "[STATUS] == 200",
        "[STATUS] == any(200, 201)",
        "[RESPONSE_TIME] < 300",
        "[CERTIFICATE_EXPIRATION] > 48h",
        "[BODY] == pat(*<html>*)",
        "[BODY] != pat(*(*)",
        "[CONNECTED] == true",
    ] {
        assert!(holds(s, &obs), "{s}");
    }
    let json = http(200, r#"{"data":[{"id":1,"name":"a"}],"errors":[]}"#);
    for s in [
        "[BODY].data[0].id == 1",
        "len([BODY].data) < 5",
        "len([BODY].errors) == 0",
        "has([BODY].errors) == true",
        "has([BODY].nope) == false",
        "[BODY].data[0].name == pat(?)",
    ] {
        assert!(holds(s, &json), "{s}");
    }
}
