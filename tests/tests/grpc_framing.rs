//! Client mistakes on the gRPC wire are INVALID_ARGUMENT, never INTERNAL:
//! malformed frames, bytes that are not protobuf, gRPC-web-text that is not
//! base64, a Struct nested 100k deep. Each known mistake has its own named
//! assertion; then a seeded fuzz loop sends random and mutated frames to
//! several RPCs over HTTP/2 gRPC and HTTP/1.1 gRPC-web and checks that no
//! answer is INTERNAL, UNKNOWN, DATA_LOSS or a 5xx, that the server is still
//! healthy afterwards, and that nothing was stored.

use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use prost::Message;
use tonic::Code;
use tonic::codegen::Service;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_types::StatusExt;
use weft_sdk::pb;
use weft_tests::http1::{self, grpc_frame, grpc_web_frames};
use weft_tests::workflows::create_pb;
use weft_tests::{TestServer, chain_workflow};

/// Requests of the fuzz loop over HTTP/2, and over gRPC-web.
const H2_CASES: usize = 2_000;
const WEB_CASES: usize = 300;
const SEED: u64 = 0x5eed_f00d_1506;
const START_RUN: &str = "/weft.v1.RunService/StartRun";
const HEALTH_CHECK: &str = "/grpc.health.v1.Health/Check";
const BASE64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// What the server answered to one request.
#[derive(Debug)]
struct Answer {
    http: u16,
    /// The gRPC status, from the headers (trailers-only) or the trailers.
    status: Option<tonic::Status>,
}

impl Answer {
    fn code(&self) -> Option<Code> {
        self.status.as_ref().map(tonic::Status::code)
    }

    fn reason(&self) -> Option<String> {
        self.status.as_ref()?.get_error_details().error_info().map(|info| info.reason.clone())
    }

    /// A client mistake must never look like a server fault.
    fn is_server_fault(&self) -> bool {
        self.http >= 500 || matches!(self.code(), Some(Code::Internal | Code::Unknown | Code::DataLoss))
    }
}

/// Sends `body` as the raw HTTP/2 body of a gRPC call to `path`.
async fn h2(channel: &Channel, path: &str, headers: &[(&'static str, &'static str)], body: Vec<u8>) -> Answer {
    let mut request = http::Request::post(path)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(tonic::body::Body::new(Full::new(Bytes::from(body))))
        .unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(*name, http::HeaderValue::from_static(value));
    }
    let mut channel = channel.clone();
    std::future::poll_fn(|cx| channel.poll_ready(cx)).await.expect("channel ready");
    let response = tokio::time::timeout(Duration::from_secs(10), channel.call(request))
        .await
        .unwrap_or_else(|_| panic!("{path}: no answer within 10 s"))
        .expect("HTTP/2 exchange");
    let http = response.status().as_u16();
    let (parts, mut body) = response.into_parts();
    let mut status = tonic::Status::from_header_map(&parts.headers);
    while status.is_none() {
        let next = tokio::time::timeout(Duration::from_secs(10), body.frame()).await.expect("body within 10 s");
        match next {
            Some(Ok(frame)) => {
                if let Ok(trailers) = frame.into_trailers() {
                    status = tonic::Status::from_header_map(&trailers);
                }
            }
            Some(Err(e)) => panic!("{path}: the answer's body failed: {e}"),
            None => break,
        }
    }
    Answer { http, status }
}

/// Sends `body` as gRPC-web over HTTP/1.1 with `content_type`.
async fn web(server: &TestServer, path: &str, content_type: &str, accept: Option<&str>, body: &[u8]) -> Answer {
    let mut headers = vec![("content-type", content_type), ("x-grpc-web", "1")];
    if let Some(accept) = accept {
        headers.push(("accept", accept));
    }
    let response =
        tokio::time::timeout(Duration::from_secs(10), http1::request(server.addr, "POST", path, &headers, body))
            .await
            .unwrap_or_else(|_| panic!("{path}: no gRPC-web answer within 10 s"))
            .expect("HTTP/1.1 exchange");
    let mut map = http::HeaderMap::new();
    for (name, value) in &response.headers {
        if let (Ok(name), Ok(value)) = (http::HeaderName::try_from(name.as_str()), http::HeaderValue::try_from(value)) {
            map.append(name, value);
        }
    }
    let mut status = tonic::Status::from_header_map(&map);
    if status.is_none() {
        let frames = if response.header("content-type").is_some_and(|t| t.starts_with("application/grpc-web-text")) {
            // tonic-web encodes each chunk on its own, padding included.
            let decoded: Vec<u8> =
                response.body.chunks(4).flat_map(|group| BASE64.decode(group).expect("a base64 answer")).collect();
            grpc_web_frames(&decoded)
        } else {
            grpc_web_frames(&response.body)
        };
        for (flags, payload) in frames.iter().filter(|(flags, _)| flags & 0x80 != 0) {
            assert_eq!(*flags, 0x80);
            for line in String::from_utf8_lossy(payload).split("\r\n") {
                if let Some((name, value)) = line.split_once(':') {
                    map.append(
                        http::HeaderName::try_from(name.trim()).unwrap(),
                        http::HeaderValue::try_from(value.trim()).unwrap(),
                    );
                }
            }
        }
        status = tonic::Status::from_header_map(&map);
    }
    Answer { http: response.status, status }
}

fn frame_with_flag(flag: u8, message: &[u8]) -> Vec<u8> {
    let mut frame = grpc_frame(message);
    frame[0] = flag;
    frame
}

/// A google.protobuf.Value nested `depth` times as
/// `{ struct_value: { fields: { "a": <inner> } } }` around a null, written
/// by hand (no encoder builds it) and outside in, so in linear time.
fn nested_value(depth: usize) -> Vec<u8> {
    let varint_len = |n: usize| prost::encoding::encoded_len_varint(n as u64);
    let mut levels = Vec::with_capacity(depth);
    let mut value = 2; // null_value
    for _ in 0..depth {
        let entry = 4 + varint_len(value) + value; // key "a" (3 bytes) + value tag
        let fields = 1 + varint_len(entry) + entry;
        levels.push((entry, fields, value));
        value = 1 + varint_len(fields) + fields;
    }
    let mut out = Vec::with_capacity(value);
    for &(entry, fields, inner) in levels.iter().rev() {
        out.push(0x2a); // Value.struct_value
        prost::encoding::encode_varint(fields as u64, &mut out);
        out.push(0x0a); // Struct.fields (a map entry)
        prost::encoding::encode_varint(entry as u64, &mut out);
        out.extend_from_slice(&[0x0a, 0x01, b'a', 0x12]); // key "a", then the value
        prost::encoding::encode_varint(inner as u64, &mut out);
    }
    out.extend_from_slice(&[0x08, 0x00]);
    assert_eq!(out.len(), value);
    out
}

/// splitmix64: a fixed seed gives the same cases on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// RPCs the fuzz loop aims at, each with a well-formed request that names
/// nothing that exists (so a mutation that still decodes changes nothing),
/// and reflection's bidirectional stream, which is not read whole.
fn targets() -> Vec<(&'static str, Vec<u8>)> {
    let input = prost_types::Value { kind: Some(prost_types::value::Kind::StringValue("acme".into())) };
    let mut invalid_workflow = chain_workflow("", 2);
    invalid_workflow.steps[1].depends_on = vec!["ghost".into()];
    vec![
        (
            START_RUN,
            pb::StartRunRequest { workflow_id: "wf_fuzz_missing".into(), input: Some(input), ..Default::default() }
                .encode_to_vec(),
        ),
        (
            "/weft.v1.WorkflowService/CreateWorkflow",
            pb::CreateWorkflowRequest { workflow: Some(invalid_workflow), request_id: String::new() }.encode_to_vec(),
        ),
        (
            "/weft.v1.WorkflowService/GetWorkflow",
            pb::GetWorkflowRequest { id: "wf_fuzz_missing".into() }.encode_to_vec(),
        ),
        (
            "/weft.v1.RunService/ListRuns",
            pb::ListRunsRequest { workflow_id: "wf_fuzz_missing".into(), page_size: 5, ..Default::default() }
                .encode_to_vec(),
        ),
        ("/weft.v1.RunService/GetRun", pb::GetRunRequest { run_id: "wfrun_fuzz_missing".into() }.encode_to_vec()),
        (
            "/weft.v1.RunService/StreamRunEvents",
            pb::StreamRunEventsRequest { run_id: "wfrun_fuzz_missing".into(), ..Default::default() }.encode_to_vec(),
        ),
        (HEALTH_CHECK, HealthCheckRequest { service: "weft.v1.RunService".into() }.encode_to_vec()),
        (
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::ListServices(String::new())),
            }
            .encode_to_vec(),
        ),
    ]
}

/// One fuzz case: a kind (for the failure message), headers, a body.
fn fuzz_case(rng: &mut Rng, valid: &[u8]) -> (&'static str, Vec<(&'static str, &'static str)>, Vec<u8>) {
    match rng.below(8) {
        0 => {
            let n = rng.below(64);
            ("random bytes", vec![], rng.bytes(n))
        }
        1 => {
            let n = rng.below(64);
            ("random message", vec![], grpc_frame(&rng.bytes(n)))
        }
        2 => {
            let flag = [0, 1, 2, 0x7f, 0x80, 0xff, rng.next() as u8][rng.below(7)];
            let length = match rng.below(3) {
                0 => rng.below(64) as u32,
                1 => rng.next() as u32,
                _ => u32::MAX,
            };
            let mut body = vec![flag];
            body.extend_from_slice(&length.to_be_bytes());
            let n = rng.below(48);
            body.extend(rng.bytes(n));
            ("random header", vec![], body)
        }
        3 => {
            let frame = grpc_frame(valid);
            let cut = rng.below(frame.len());
            ("truncated frame", vec![], frame[..cut].to_vec())
        }
        4 => {
            let mut frame = grpc_frame(valid);
            let n = 1 + rng.below(16);
            frame.extend(rng.bytes(n));
            ("trailing bytes", vec![], frame)
        }
        5 => {
            let headers = match rng.below(3) {
                0 => vec![],
                1 => vec![("grpc-encoding", "identity")],
                _ => vec![("grpc-encoding", "gzip")],
            };
            ("compressed flag", headers, frame_with_flag(1, valid))
        }
        6 => {
            // A varint field (tag 1..4, wire type 0) whose value never ends.
            let mut message = vec![(1 + rng.below(4) as u8) << 3];
            message.extend(std::iter::repeat_n(0xff, 10 + rng.below(6)));
            ("invalid varint", vec![], grpc_frame(&message))
        }
        _ => {
            let mut message = valid.to_vec();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(message.len());
                message[at] = rng.next() as u8;
            }
            ("mutated message", vec![], grpc_frame(&message))
        }
    }
}

/// gRPC-web-text bodies that are not (only) base64.
fn text_garbage(rng: &mut Rng, valid: &[u8]) -> (&'static str, Vec<u8>) {
    match rng.below(4) {
        0 => {
            let n = rng.below(64);
            ("random bytes as text", rng.bytes(n))
        }
        1 => {
            let n = rng.below(64);
            let text = (0..n).map(|_| b"ABCabc012+/=!-_ \r\n"[rng.below(18)]).collect();
            ("base64-ish characters", text)
        }
        2 => {
            let mut text = BASE64.encode(grpc_frame(valid)).into_bytes();
            let at = rng.below(text.len());
            text.insert(at, b"=*\n."[rng.below(4)]);
            ("base64 with a stray character", text)
        }
        _ => {
            let mut text = BASE64.encode(grpc_frame(valid)).into_bytes();
            let cut = rng.below(text.len());
            text.truncate(cut);
            ("cut base64", text)
        }
    }
}

fn assert_invalid(answer: &Answer, case: &str, reason: &str) {
    assert_eq!(answer.code(), Some(Code::InvalidArgument), "{case}: {answer:?}");
    assert_eq!(answer.reason().as_deref(), Some(reason), "{case}: {answer:?}");
    assert!(answer.http < 500, "{case}: {answer:?}");
}

/// Runs of every workflow and workflows, to compare before and after.
async fn stored(client: &weft_sdk::Weft) -> (u32, u32) {
    let runs = client.runs().list_runs(pb::ListRunsRequest::default()).await.unwrap().into_inner().total;
    let workflows =
        client.workflows().list_workflows(pb::ListWorkflowsRequest::default()).await.unwrap().into_inner().total;
    (runs, workflows)
}

#[tokio::test]
async fn malformed_requests_are_invalid_argument_never_internal() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let workflow = create_pb(&client, chain_workflow("kept", 1)).await;
    client
        .runs()
        .start_run(pb::StartRunRequest { workflow_id: workflow.id.clone(), ..Default::default() })
        .await
        .unwrap();
    let before = stored(&client).await;
    assert_eq!(before, (1, 1));
    let channel = Endpoint::from_shared(server.url()).unwrap().connect().await.unwrap();
    let start = |input: Vec<u8>| {
        // StartRunRequest { workflow_id: <the real one>, input: <bytes> },
        // so a request that decoded would create a run.
        let mut message =
            pb::StartRunRequest { workflow_id: workflow.id.clone(), ..Default::default() }.encode_to_vec();
        message.push(0x1a);
        prost::encoding::encode_varint(input.len() as u64, &mut message);
        message.extend(input);
        message
    };

    // Each known mistake, by name.
    let deep = start(nested_value(100_000));
    assert!(deep.len() < 4 * 1024 * 1024, "the 100k-deep Struct fits the message limit: {} bytes", deep.len());
    let answer = h2(&channel, START_RUN, &[], grpc_frame(&deep)).await;
    assert_invalid(&answer, "a Struct nested 100k deep", "MALFORMED_MESSAGE");
    assert!(answer.status.unwrap().message().contains("100 messages deep"));
    let mut varint = start(vec![]);
    varint.extend_from_slice(&[0x28, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    assert_invalid(&h2(&channel, START_RUN, &[], grpc_frame(&varint)).await, "an invalid varint", "MALFORMED_MESSAGE");
    let frame = grpc_frame(&start(vec![0x08, 0x00]));
    let truncated = frame[..frame.len() - 3].to_vec();
    assert_invalid(&h2(&channel, START_RUN, &[], truncated.clone()).await, "a truncated frame", "MALFORMED_FRAME");
    assert_invalid(&h2(&channel, START_RUN, &[], frame[..3].to_vec()).await, "a truncated header", "MALFORMED_FRAME");
    assert_invalid(&h2(&channel, START_RUN, &[], vec![]).await, "an empty body", "MALFORMED_FRAME");
    let mut trailing = frame.clone();
    trailing.extend_from_slice(&[0, 0]);
    assert_invalid(&h2(&channel, START_RUN, &[], trailing).await, "bytes after the message", "MALFORMED_FRAME");
    let mut two = frame.clone();
    two.extend_from_slice(&frame);
    assert_invalid(&h2(&channel, START_RUN, &[], two).await, "two messages to a unary RPC", "MALFORMED_FRAME");
    let compressed = frame_with_flag(1, &start(vec![0x08, 0x00]));
    let answer = h2(&channel, START_RUN, &[], compressed.clone()).await;
    assert_invalid(&answer, "the compressed flag without grpc-encoding", "MALFORMED_FRAME");
    assert!(answer.status.unwrap().message().contains("grpc-encoding"));
    let answer = h2(&channel, START_RUN, &[("grpc-encoding", "identity")], compressed).await;
    assert_invalid(&answer, "the compressed flag with grpc-encoding: identity", "MALFORMED_FRAME");
    let flagged = frame_with_flag(0x80, &start(vec![0x08, 0x00]));
    assert_invalid(&h2(&channel, START_RUN, &[], flagged).await, "an unknown frame flag", "MALFORMED_FRAME");
    let garbage = grpc_frame(&[0x0a, 0x05, 0xff]);
    assert_invalid(
        &h2(&channel, HEALTH_CHECK, &[], garbage).await,
        "a health check that is not protobuf",
        "MALFORMED_MESSAGE",
    );
    let mut oversized = vec![0];
    oversized.extend_from_slice(&(5u32 * 1024 * 1024).to_be_bytes());
    let answer = h2(&channel, START_RUN, &[], oversized).await;
    assert_eq!(answer.code(), Some(Code::ResourceExhausted), "a message over the limit: {answer:?}");

    // REST: the gateway encodes the JSON and calls gRPC in-process; a value
    // nested past what protobuf decodes is the same mistake, and a 400.
    let mut nested = serde_json::json!(1);
    for _ in 0..60 {
        nested = serde_json::json!({ "a": nested });
    }
    let path = format!("/v1/workflows/{}/runs", workflow.id);
    let (status, body) = http1::json(server.addr, "POST", &path, Some(serde_json::json!({ "input": nested }))).await;
    assert_eq!(status, 400, "a REST input nested 60 deep: {body}");

    // gRPC-web: the same mistakes in binary, and text that is not base64.
    let answer = web(&server, START_RUN, "application/grpc-web+proto", None, &truncated).await;
    assert_invalid(&answer, "a truncated gRPC-web frame", "MALFORMED_FRAME");
    let answer = web(&server, START_RUN, "application/grpc-web-text", None, b"not base64!").await;
    assert_invalid(&answer, "gRPC-web-text that is not base64", "MALFORMED_FRAME");
    let answer = web(&server, START_RUN, "application/grpc-web-text", None, BASE64.encode(&truncated).as_bytes()).await;
    assert_invalid(&answer, "a truncated frame in gRPC-web-text", "MALFORMED_FRAME");
    let text = BASE64.encode(grpc_frame(&deep));
    let answer = web(&server, START_RUN, "application/grpc-web-text+proto", None, text.as_bytes()).await;
    assert_invalid(&answer, "a Struct nested 100k deep in gRPC-web-text", "MALFORMED_MESSAGE");
    // Well-formed text still works, header and message encoded separately
    // (padding inside the body), and the answer comes back as text.
    let get = grpc_frame(&pb::GetWorkflowRequest { id: workflow.id.clone() }.encode_to_vec());
    let text = format!("{}{}", BASE64.encode(&get[..5]), BASE64.encode(&get[5..]));
    let answer = web(
        &server,
        "/weft.v1.WorkflowService/GetWorkflow",
        "application/grpc-web-text",
        Some("application/grpc-web-text"),
        text.as_bytes(),
    )
    .await;
    assert_eq!(answer.code(), Some(Code::Ok), "well-formed gRPC-web-text: {answer:?}");

    // The fuzz loop.
    let targets = targets();
    let mut rng = Rng(SEED);
    let started = Instant::now();
    let mut codes = std::collections::BTreeMap::<String, usize>::new();
    for i in 0..H2_CASES {
        let (path, valid) = &targets[rng.below(targets.len())];
        let (kind, headers, body) = fuzz_case(&mut rng, valid);
        let answer = h2(&channel, path, &headers, body.clone()).await;
        assert!(!answer.is_server_fault(), "case {i} ({kind}) to {path}: {answer:?}; body {body:02x?}");
        assert!(answer.status.is_some(), "case {i} ({kind}) to {path}: no grpc-status");
        *codes.entry(format!("{:?}", answer.code())).or_default() += 1;
    }
    for i in 0..WEB_CASES {
        let (path, valid) = &targets[rng.below(targets.len())];
        let (kind, content_type, body) = match rng.below(3) {
            0 => {
                let (kind, _, body) = fuzz_case(&mut rng, valid);
                (kind, "application/grpc-web+proto", body)
            }
            1 => {
                let (kind, _, body) = fuzz_case(&mut rng, valid);
                (kind, "application/grpc-web-text", BASE64.encode(body).into_bytes())
            }
            _ => {
                let (kind, body) = text_garbage(&mut rng, valid);
                (kind, "application/grpc-web-text", body)
            }
        };
        let answer = web(&server, path, content_type, None, &body).await;
        assert!(!answer.is_server_fault(), "web case {i} ({kind}, {content_type}) to {path}: {answer:?}");
        assert!(answer.status.is_some(), "web case {i} ({kind}) to {path}: no grpc-status");
        *codes.entry(format!("{:?}", answer.code())).or_default() += 1;
    }
    eprintln!("{} fuzz cases in {:?}: {codes:?}", H2_CASES + WEB_CASES, started.elapsed());

    // Still healthy, and nothing stored.
    let health = HealthClient::new(channel.clone())
        .check(HealthCheckRequest { service: "weft.v1.RunService".into() })
        .await
        .expect("health check after the fuzz")
        .into_inner();
    assert_eq!(health.status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
    client.workflows().get_workflow(pb::GetWorkflowRequest { id: workflow.id.clone() }).await.unwrap();
    assert_eq!(stored(&client).await, before, "malformed requests stored something");
}
