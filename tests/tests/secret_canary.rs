//! The secret canary: two unique secrets, one stored through SecretService
//! (sealed in the tenant's store) and one in server config, are used in
//! `{{ secrets.NAME }}` header references of http_request and webhook
//! steps. The receiver must get the right values (so the test fails if
//! secrets were not sent), and afterwards neither value may appear in the
//! database (the SQLite file with its WAL, or every table of the Postgres
//! schema as text), the server's debug logs, or any API answer: GetRun,
//! ListRuns, ListRunEvents, StreamRunEvents, GetWorkflow, ListWorkflows,
//! ListSecrets, PutSecret, /openapi.json. A failing receiver (500) and a
//! missing secret (SECRET_NOT_FOUND) are checked the same way. Also every
//! SecretService RPC's bad input.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use base64::Engine as _;
use serde_json::json;
use sqlx::{Connection, Row};
use tonic::Code;
use weft_proto::v1::secret_service_client::SecretServiceClient;
use weft_sdk::pb;
use weft_server::Config;
use weft_tests::receiver::{Answer, Receiver};
use weft_tests::runs::{start, step, wait_finished};
use weft_tests::store::TestStore;
use weft_tests::workflows::create_json;
use weft_tests::{TestServer, http1};

/// Where the server's tracing output goes for this test binary.
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures every log line of the in-process server at debug level, as
/// `WEFT_LOG=debug` would print them (spans and fields included).
fn capture_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
        .with_writer(|| LogWriter)
        .with_ansi(false)
        .try_init();
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").unwrap(), &mut buf).unwrap();
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

fn config(key: Option<String>, config_secret: &str) -> Config {
    let mut config = Config::default();
    config.outbound.allow_networks = vec!["127.0.0.0/8".into()];
    config.log = "debug".into();
    config.secrets.key = key;
    config.secrets.values.insert("default".into(), [("CANARY_CONFIG".to_owned(), config_secret.to_owned())].into());
    config
}

async fn secrets_client(server: &TestServer) -> SecretServiceClient<tonic::transport::Channel> {
    SecretServiceClient::connect(server.url()).await.unwrap()
}

/// Everything in the database, as bytes to search.
async fn database_bytes(database: &Path) -> Vec<u8> {
    let store = TestStore::from_env();
    if !store.is_postgres() {
        let dir = database.parent().unwrap();
        let mut all = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            all.extend(std::fs::read(entry.unwrap().path()).unwrap_or_default());
        }
        assert!(all.len() > 4096, "the database file was read");
        return all;
    }
    let url = store.url_for(database).await;
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(tables.iter().any(|t| t == "tenant_secrets"), "{tables:?}");
    let mut all = Vec::new();
    for table in tables {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT CAST(t AS text) AS row FROM \"{table}\" t")))
            .fetch_all(&mut conn)
            .await
            .unwrap();
        for row in rows {
            all.extend(row.get::<String, _>("row").into_bytes());
        }
    }
    all
}

fn hits(haystack: &[u8], needle: &str) -> usize {
    haystack.windows(needle.len()).filter(|w| *w == needle.as_bytes()).count()
}

/// REST answers (the body text) of every read the API offers about these
/// runs and workflows.
async fn api_answers(server: &TestServer, workflow_ids: &[String], run_ids: &[String]) -> Vec<(String, Vec<u8>)> {
    let mut paths = vec!["/openapi.json".to_owned(), "/v1/workflows".to_owned(), "/v1/secrets".to_owned()];
    paths.push("/v1/workflow-runs".into());
    for id in workflow_ids {
        paths.push(format!("/v1/workflows/{id}"));
        paths.push(format!("/v1/workflows/{id}/runs"));
    }
    for id in run_ids {
        paths.push(format!("/v1/workflows/runs/{id}"));
        paths.push(format!("/v1/workflows/runs/{id}/events"));
        paths.push(format!("/v1/workflows/runs/{id}/stream"));
    }
    let mut answers = Vec::new();
    for path in paths {
        let response = http1::request(server.addr, "GET", &path, &[], b"").await.unwrap();
        assert_eq!(response.status, 200, "GET {path}: {}", String::from_utf8_lossy(&response.body));
        answers.push((path, response.body));
    }
    // And over gRPC, the messages as the SDK decodes them.
    let client = server.client().await;
    for id in run_ids {
        let run = client.runs().get_run(pb::GetRunRequest { run_id: id.clone() }).await;
        answers.push((format!("grpc GetRun {id}"), format!("{:?}", run.unwrap().into_inner()).into_bytes()));
        let events = weft_tests::runs::events(&client, id).await;
        answers.push((format!("grpc ListRunEvents {id}"), format!("{events:?}").into_bytes()));
    }
    answers
}

#[tokio::test]
async fn secrets_reach_the_receiver_and_nowhere_else() {
    capture_logs();
    let stored = format!("canaryStored{}", random_hex(16));
    let configured = format!("canaryConfig{}", random_hex(16));
    let missing_name = format!("CANARY_MISSING_{}", random_hex(4));
    let key = base64::engine::general_purpose::STANDARD.encode(random_hex(16).as_bytes());
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(dir.path().join("weft.db"), config(Some(key), &configured)).await;

    // Stored over gRPC first, then replaced over REST: both transports'
    // handling (and logging) of a value is checked.
    let replaced = format!("canaryReplaced{}", random_hex(16));
    let mut secrets = secrets_client(&server).await;
    let put = pb::PutSecretRequest { name: "CANARY_STORED".into(), value: replaced.clone() };
    let answer = secrets.put_secret(put).await.unwrap().into_inner();
    assert!(answer.created);
    assert_eq!(answer.secret.as_ref().unwrap().name, "CANARY_STORED");
    let mut put_answers = format!("{answer:?}");
    let (status, answer) =
        http1::json(server.addr, "PUT", "/v1/secrets/CANARY_STORED", Some(json!({"value": stored}))).await;
    assert_eq!((status, answer["created"].as_bool()), (200, Some(false)), "{answer}");
    put_answers.push_str(&answer.to_string());
    let listed = secrets.list_secrets(pb::ListSecretsRequest::default()).await.unwrap().into_inner();
    assert_eq!(listed.secrets.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["CANARY_STORED"]);

    // One receiver answers 200 to both steps; another 500 (no retries).
    let ok = Receiver::start(vec![]).await;
    let failing = Receiver::start(vec![Answer::text(500, "boom")]).await;
    let headers = json!({
        "Authorization": "Bearer {{ secrets.CANARY_STORED }}",
        "X-Config": "cfg={{secrets.CANARY_CONFIG}};",
    });
    let good = create_json(
        &server,
        json!({"name": "canary", "steps": [
            {"id": "call", "type": "http_request", "method": "POST", "url": ok.url("/call"), "headers": headers,
             "body": {"company": "{{ input.company }}"}},
            {"id": "hook", "type": "webhook", "url": ok.url("/hook"), "headers": headers, "dependsOn": ["call"],
             "inputMap": {"result": "$.call.output.body"}},
        ]}),
    )
    .await;
    let refused = create_json(
        &server,
        json!({"name": "canary-500", "steps": [
            {"id": "call", "type": "http_request", "url": failing.url("/fail"), "headers": headers, "retries": 0},
        ]}),
    )
    .await;
    let missing = create_json(
        &server,
        json!({"name": "canary-missing", "steps": [
            {"id": "call", "type": "http_request", "url": ok.url("/never"),
             "headers": {"Authorization": format!("Bearer {{{{ secrets.{missing_name} }}}}"),
                         "X-Config": "{{ secrets.CANARY_CONFIG }}"}},
        ]}),
    )
    .await;

    let client = server.client().await;
    let mut run_ids = Vec::new();
    let run = start(&client, &good, json!({"company": "Acme"})).await;
    let run = wait_finished(&client, &run.id, 20).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    run_ids.push(run.id.clone());

    let received = ok.wait_for(2, 10).await;
    for request in &received {
        assert_eq!(request.header("authorization"), Some(format!("Bearer {stored}").as_str()), "{}", request.path);
        assert_eq!(request.header("x-config"), Some(format!("cfg={configured};").as_str()), "{}", request.path);
    }
    assert_eq!(received.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(), ["/call", "/hook"]);

    let run = start(&client, &refused, json!({})).await;
    let run = wait_finished(&client, &run.id, 20).await;
    assert_eq!(run.status, pb::RunStatus::Failed as i32, "{run:?}");
    assert!(step(&run, "call").error.contains("HTTP 500"), "{:?}", step(&run, "call").error);
    assert_eq!(failing.received()[0].header("authorization"), Some(format!("Bearer {stored}").as_str()));
    run_ids.push(run.id.clone());

    let run = start(&client, &missing, json!({})).await;
    let run = wait_finished(&client, &run.id, 20).await;
    assert_eq!(run.status, pb::RunStatus::Failed as i32, "{run:?}");
    let error = &step(&run, "call").error;
    assert!(error.contains("SECRET_NOT_FOUND") && error.contains(&missing_name), "{error}");
    assert_eq!(ok.received().len(), 2, "nothing is sent when a secret is missing");
    run_ids.push(run.id.clone());

    let mut answers = api_answers(&server, &[good, refused, missing], &run_ids).await;
    answers.push(("PutSecret".into(), put_answers.into_bytes()));
    answers.push(("ListSecrets".into(), format!("{listed:?}").into_bytes()));
    let events = String::from_utf8_lossy(&answers.iter().find(|(p, _)| p.ends_with("/events")).unwrap().1).into_owned();
    assert!(events.contains("step.completed"), "the events were read: {events}");
    let database_path = server.database.clone();
    server.stop().await;

    let database = database_bytes(&database_path).await;
    let logs = LOGS.lock().unwrap().clone();
    assert!(hits(&logs, "weft is serving") > 0 && hits(&logs, "DEBUG") > 0, "debug logs were captured");
    for secret in [&stored, &configured, &replaced] {
        assert_eq!(hits(&database, secret), 0, "a secret is in the database");
        assert_eq!(hits(&logs, secret), 0, "a secret is in the logs");
        for (what, body) in &answers {
            assert_eq!(hits(body, secret), 0, "a secret is in the answer of {what}");
        }
    }
    // The names are there (the definitions keep the references as written).
    assert!(hits(&database, "{{ secrets.CANARY_STORED }}") > 0);
}

#[tokio::test]
async fn every_secret_call_refuses_bad_input_and_never_quotes_a_value() {
    capture_logs();
    let dir = tempfile::tempdir().unwrap();
    let key = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
    let server = TestServer::start_on(dir.path().join("weft.db"), config(Some(key), "unused")).await;
    let mut secrets = secrets_client(&server).await;
    let put = |name: &str, value: &str| pb::PutSecretRequest { name: name.into(), value: value.into() };
    for (name, value, field) in [
        ("", "v", "name"),
        ("1BAD", "v", "name"),
        ("has-dash", "v", "name"),
        (&"N".repeat(129), "v", "name"),
        ("OK", "", "value"),
        ("OK", "line\nbreak-canary", "value"),
        ("OK", &"x".repeat(8 * 1024 + 1), "value"),
    ] {
        let status = secrets.put_secret(put(name, value)).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{name}: {status:?}");
        assert!(status.message().starts_with(field), "{name}: {}", status.message());
        assert!(!status.message().contains("canary"), "{}", status.message());
    }
    let bad_token = pb::ListSecretsRequest { page_token: "!!".into(), page_size: 0 };
    assert_eq!(secrets.list_secrets(bad_token).await.unwrap_err().code(), Code::InvalidArgument);
    for name in ["", "no.dots"] {
        let status = secrets.delete_secret(pb::DeleteSecretRequest { name: name.into() }).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{name}");
    }
    let unknown = secrets.delete_secret(pb::DeleteSecretRequest { name: "NOPE".into() }).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);

    // Paging, replacing and deleting.
    for name in ["C", "A", "B"] {
        assert!(secrets.put_secret(put(name, "v1")).await.unwrap().into_inner().created);
    }
    assert!(!secrets.put_secret(put("A", "v2")).await.unwrap().into_inner().created, "a replace");
    let first = secrets.list_secrets(pb::ListSecretsRequest { page_size: 2, ..Default::default() }).await;
    let first = first.unwrap().into_inner();
    assert_eq!(first.secrets.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["A", "B"]);
    let next = pb::ListSecretsRequest { page_size: 2, page_token: first.next_page_token };
    let second = secrets.list_secrets(next).await.unwrap().into_inner();
    assert_eq!((second.secrets.len(), second.secrets[0].name.as_str(), second.next_page_token.as_str()), (1, "C", ""));
    secrets.delete_secret(pb::DeleteSecretRequest { name: "B".into() }).await.unwrap();
    let (status, body) = http1::json(server.addr, "GET", "/v1/secrets", None).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = body["secrets"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["A", "C"]);
    // REST binding of PutSecret.
    let (status, body) = http1::json(server.addr, "PUT", "/v1/secrets/D", Some(json!({"value": "restvalue"}))).await;
    assert_eq!((status, body["secret"]["name"].as_str()), (200, Some("D")), "{body}");
    assert!(!body.to_string().contains("restvalue"));
    server.stop().await;

    // Without a key, storing is refused with the setting named.
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(dir.path().join("weft.db"), config(None, "unused")).await;
    let status = secrets_client(&server).await.put_secret(put("A", "v")).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("[secrets] key") && status.message().contains("WEFT_SECRETS_KEY"), "{status:?}");
    server.stop().await;
}
