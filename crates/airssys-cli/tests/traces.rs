//! Traces across components and hosts: one request from a drive through
//! three components on two `airssys run` hosts joined by NATS arrives at
//! an OTLP receiver (this test's own, decoding the protobuf the hosts
//! POST on /v1/traces) as one trace whose spans link up parent to child.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use airssys_testkit::NatsServer;
use common::announcements;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message as _;

/// Requests `middle` with the payload and replies with its answer.
const FRONT: &str = r#"(module
  (import "airssys" "reply" (func $reply (param i32 i32) (result i32)))
  (import "airssys" "request" (func $request (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "middle")
  (func (export "alloc") (param i32) (result i32) i32.const 1024)
  (func (export "handle-message") (param $m i32) (param $len i32) (result i32)
    (local $rc i32)
    (local.set $rc (call $request (i32.const 100) (i32.const 6)
      (i32.add (i32.add (i32.add (local.get $m) (i32.const 24))
        (i32.load offset=4 (local.get $m))) (i32.load offset=8 (local.get $m)))
      (i32.load offset=12 (local.get $m))
      (i32.const 2000) (i32.const 8192) (i32.const 256)))
    (if (i32.lt_s (local.get $rc) (i32.const 0)) (then (return (i32.const 1))))
    (drop (call $reply (i32.const 8192) (local.get $rc)))
    i32.const 0))"#;

/// Sends the payload on to `back` (on the other host) and replies "ok".
const MIDDLE: &str = r#"(module
  (import "airssys" "reply" (func $reply (param i32 i32) (result i32)))
  (import "airssys" "send" (func $send (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "back")
  (data (i32.const 120) "ok")
  (func (export "alloc") (param i32) (result i32) i32.const 1024)
  (func (export "handle-message") (param $m i32) (param $len i32) (result i32)
    (if (i32.lt_s
          (call $send (i32.const 100) (i32.const 4)
            (i32.add (i32.add (i32.add (local.get $m) (i32.const 24))
              (i32.load offset=4 (local.get $m))) (i32.load offset=8 (local.get $m)))
            (i32.load offset=12 (local.get $m)))
          (i32.const 0))
      (then (return (i32.const 1))))
    (drop (call $reply (i32.const 120) (i32.const 2)))
    i32.const 0))"#;

/// Takes what it is sent.
const BACK: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) i32.const 1024)
  (func (export "handle-message") (param i32 i32) (result i32) i32.const 0))"#;

const MANIFEST: &str = r#"
[[group]]
name = "one"
strategy = "one_for_one"

[[group]]
name = "two"
strategy = "one_for_one"

[[component]]
name = "front"
path = "front.wat"
group = "one"
send = ["middle"]

[[component]]
name = "middle"
path = "middle.wat"
group = "one"
send = ["back"]

[[component]]
name = "back"
path = "back.wat"
group = "two"

[[drive]]
request = "front"
every = "100ms"
count = 1
payload = "order-1"
"#;

/// One span as the receiver decoded it.
#[derive(Debug, Clone)]
struct Received {
    name: String,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent: Vec<u8>,
    component: String,
}

/// A minimal OTLP/HTTP receiver: answers 200 to every POST and keeps the
/// spans of those to /v1/traces.
fn receiver() -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let spans = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&spans);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let kept = Arc::clone(&kept);
            std::thread::spawn(move || serve(stream, &kept));
        }
    });
    (addr, spans)
}

/// Serves one connection (the exporter keeps it alive between batches).
fn serve(stream: TcpStream, spans: &Mutex<Vec<Received>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap();
                }
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).unwrap();
        if request_line.contains("/v1/traces") {
            let request = ExportTraceServiceRequest::decode(&body[..]).unwrap();
            let mut kept = spans.lock().unwrap();
            for span in request
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .flat_map(|s| &s.spans)
            {
                let component = span
                    .attributes
                    .iter()
                    .find(|kv| kv.key == "airssys.component")
                    .and_then(|kv| kv.value.as_ref()?.value.as_ref())
                    .map(|v| match v {
                        Value::StringValue(s) => s.clone(),
                        other => format!("{other:?}"),
                    })
                    .unwrap_or_default();
                kept.push(Received {
                    name: span.name.clone(),
                    trace_id: span.trace_id.clone(),
                    span_id: span.span_id.clone(),
                    parent: span.parent_span_id.clone(),
                    component,
                });
            }
        }
        let answer =
            "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n";
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// `airssys run <manifest> <args>` exporting to `otlp`, batches sent
/// every 100 ms.
fn run(manifest: &std::path::Path, otlp: &str, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_airssys"))
        .arg("run")
        .arg(manifest)
        .args(args)
        .args(["--otlp-endpoint", &format!("http://{otlp}")])
        .env("RUST_LOG", "error")
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("airssys starts")
}

#[test]
fn one_request_through_three_components_on_two_hosts_is_one_trace() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    for (file, text) in [
        ("front.wat", FRONT),
        ("middle.wat", MIDDLE),
        ("back.wat", BACK),
        ("airssys.toml", MANIFEST),
    ] {
        std::fs::write(dir.path().join(file), text).unwrap();
    }
    let manifest = dir.path().join("airssys.toml");
    let (otlp, spans) = receiver();

    // Host two first, so that it serves `back` before host one sends.
    let mut two = run(
        &manifest,
        &otlp,
        &["--nats", &url, "--only", "two", "--no-drives", "--quiet"],
    );
    let said = announcements(&mut two, &["ready: "]);
    assert_eq!(said[0], "1 components running");
    let one = run(
        &manifest,
        &otlp,
        &[
            "--nats",
            &url,
            "--only",
            "one",
            "--until-drives-done",
            "--quiet",
        ],
    );
    let out = one.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Five spans: three handlings, the request, the send.
    let deadline = Instant::now() + Duration::from_secs(20);
    let got = loop {
        let got = spans.lock().unwrap().clone();
        if got.len() >= 5 {
            break got;
        }
        assert!(Instant::now() < deadline, "spans received: {got:#?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = Command::new("kill")
        .args(["-INT", &two.id().to_string()])
        .status();
    let _ = two.wait();

    let find = |name: &str, component: &str| -> Received {
        got.iter()
            .find(|s| s.name == name && s.component == component)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} span of {component} in {got:#?}"))
    };
    let front = find("handle-message", "front");
    let request = find("request", "front");
    let middle = find("handle-message", "middle");
    let send = find("send", "middle");
    let back = find("handle-message", "back");

    assert_eq!(got.len(), 5, "{got:#?}");
    for span in &got {
        assert_eq!(span.trace_id, front.trace_id, "one trace: {got:#?}");
    }
    assert!(
        front.parent.is_empty(),
        "the drive's request starts the trace"
    );
    let parents: HashMap<&str, (&Vec<u8>, &Vec<u8>)> = [
        ("request", (&request.parent, &front.span_id)),
        ("middle", (&middle.parent, &request.span_id)),
        ("send", (&send.parent, &middle.span_id)),
        ("back, on the other host", (&back.parent, &send.span_id)),
    ]
    .into_iter()
    .collect();
    for (what, (parent, expected)) in parents {
        assert_eq!(parent, expected, "{what}'s parent: {got:#?}");
    }
}
