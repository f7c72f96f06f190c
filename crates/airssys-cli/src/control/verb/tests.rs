//! The verbs' two directions agree: what `ctl` sends, the server reads
//! back as the same verb.

use super::*;

fn p(text: &str) -> Payload {
    Payload(text.as_bytes().to_vec())
}

/// One of each verb, as the server reads it back (no `--encode`).
fn every_verb() -> Vec<Verb> {
    let id = || "orders/eu ä".to_owned();
    vec![
        Verb::List { tree: false },
        Verb::List { tree: true },
        Verb::Hosts,
        Verb::Specs,
        Verb::Send {
            component: id(),
            payload: p("hi"),
            encode: None,
        },
        Verb::Request {
            component: id(),
            payload: p("hi"),
            timeout: Duration::from_millis(250),
            encode: None,
        },
        Verb::Publish {
            subject: "a.b.>".into(),
            payload: p("x"),
            encode: None,
        },
        Verb::Stop { component: id() },
        Verb::Restart { component: id() },
        Verb::Spawn { spec: id() },
        Verb::Scale {
            spec: id(),
            instances: 3,
        },
        Verb::Monitor {
            component: id(),
            wait: Duration::from_secs(7),
        },
        Verb::Subscribe {
            component: id(),
            pattern: "a.*.>".into(),
        },
        Verb::Unsubscribe {
            component: id(),
            pattern: "a.*.>".into(),
        },
        Verb::Subscriptions { component: id() },
        Verb::Upgrade {
            target: id(),
            binary: p("\0asm"),
        },
    ]
}

/// What the server makes of `call`.
fn read_back(call: &HttpCall<'_>) -> Result<Verb, VerbError> {
    let (path, query) = call.path.split_once('?').unwrap_or((&call.path, ""));
    let segments = crate::control::uri::segments(path).unwrap();
    let query = crate::control::uri::query(Some(query));
    Verb::from_http(call.method, &segments, &query, call.body.to_vec())
}

#[test]
fn every_verb_the_client_sends_is_read_back_by_the_server() {
    for verb in every_verb() {
        let call = verb.request().unwrap();
        assert_eq!(read_back(&call).as_ref(), Ok(&verb), "{call:?}");
    }
}

#[test]
fn a_verbs_path_with_the_other_method_is_refused_with_the_right_one() {
    for verb in every_verb() {
        let mut call = verb.request().unwrap();
        let right = call.method;
        call.method = if right == "GET" { "POST" } else { "GET" };
        assert_eq!(
            read_back(&call),
            Err(VerbError::Method { wants: right }),
            "{call:?}"
        );
    }
    let none = Verb::from_http("GET", &["v2".into()], &HashMap::new(), vec![]);
    assert_eq!(none.unwrap_err().to_string(), "no route GET /v2");
}

#[test]
fn bad_query_parameters_are_refused_in_words() {
    let segs = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let q = |k: &str, v: &str| HashMap::from([(k.to_owned(), v.to_owned())]);
    let bad = Verb::from_http(
        "POST",
        &segs(&["v1", "components", "e", "request"]),
        &q("timeout_ms", "0"),
        vec![],
    );
    assert_eq!(
        bad.unwrap_err().to_string(),
        "bad timeout_ms `0`: a positive integer"
    );
    let bad = Verb::from_http(
        "POST",
        &segs(&["v1", "specs", "s", "scale"]),
        &HashMap::new(),
        vec![],
    );
    assert!(matches!(bad, Err(VerbError::Query { target, .. }) if target == "s"));
    // Defaults when the parameter is absent.
    let verb = Verb::from_http(
        "GET",
        &segs(&["v1", "components", "e", "down"]),
        &HashMap::new(),
        vec![],
    );
    assert_eq!(
        verb,
        Ok(Verb::Monitor {
            component: "e".into(),
            wait: DEFAULT_DOWN_WAIT
        })
    );
}

#[test]
fn encode_turns_json_text_into_a_multicodec_payload() {
    let verb = Verb::Send {
        component: "e".into(),
        payload: p("[true]"),
        encode: Some(PayloadCodec::Json),
    };
    let body = verb.request().unwrap().body.into_owned();
    assert_eq!(&body[..2], &[0x80, 0x04]);
    let verb = Verb::Send {
        component: "e".into(),
        payload: p("{not json"),
        encode: Some(PayloadCodec::Cbor),
    };
    assert!(verb
        .request()
        .unwrap_err()
        .to_string()
        .contains("the payload is not JSON"));
}
