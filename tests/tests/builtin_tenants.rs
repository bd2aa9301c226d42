//! The built-in executor serves every tenant: a run of tenant "t2" (made
//! through the engine, since the API selects tenants only once keys do)
//! gets its http_request step sent with t2's own config secret, and its
//! webhook that waits for a callback completes when the callback, whose
//! token names t2, arrives. The run stays invisible to tenant "default",
//! and a secret configured for "default" is not t2's.

use std::time::Duration;

use serde_json::{Value, json};
use weft_server::config::{ScriptSettings, SecretSettings};
use weft_server::engine::builtin::{BuiltinExecutor, BuiltinSettings, Callback, CallbackReceiver, SecretVault};
use weft_server::engine::runs::StartRun;
use weft_server::engine::workflows::WorkflowDraft;
use weft_server::engine::{RunEngine, TaskQueue, WorkflowCatalog};
use weft_server::model::{Definition, RunStatus};
use weft_server::outbound::{AllowList, ClientLimits, OutboundClient, Secret};
use weft_tests::eventually;
use weft_tests::receiver::{Receiver, callback_token, now_secs};
use weft_tests::store::open_store;

const T2: &str = "t2";

async fn start_run(runs: &RunEngine, catalog: &WorkflowCatalog, definition: Value) -> String {
    let definition: Definition = serde_json::from_value(definition).unwrap();
    let workflow = catalog.create(T2, WorkflowDraft { definition, ..WorkflowDraft::default() }).await.unwrap();
    let request = StartRun {
        workflow_id: workflow.id.clone(),
        version: None,
        input: json!({"lead": "Acme"}),
        shared_state: Value::Null,
        user_id: String::new(),
        trigger: String::new(),
        idempotency_key: String::new(),
        ..StartRun::default()
    };
    runs.start(T2, request).await.unwrap().0.id
}

async fn finished(runs: &RunEngine, run_id: &str) -> weft_server::model::RunRecord {
    eventually("the t2 run finishes", 20, || async move {
        let (run, _) = runs.get(T2, run_id).await.unwrap();
        if run.status.is_terminal() { Ok(run) } else { Err(run.status) }
    })
    .await
}

#[tokio::test]
async fn webhook_and_http_request_steps_of_another_tenant_run_in_that_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir.path().join("weft.db")).await;
    let catalog = WorkflowCatalog::new(store.shared());
    let (runs, _) = weft_server::engine::cluster::open_engine(&store, catalog.clone(), false, 10_000).await.unwrap();
    let tasks = TaskQueue::open(runs.clone(), Duration::from_secs(60));
    let mut secrets = SecretSettings::default();
    secrets.values.insert(T2.into(), [("T2_TOKEN".to_owned(), "t2-token-value".to_owned())].into());
    secrets.values.insert("default".into(), [("DEFAULT_ONLY".to_owned(), "default-value".to_owned())].into());
    let secret = Secret::new("shared-webhook-secret");
    let client = OutboundClient::new(ClientLimits {
        allow: AllowList::parse(&["127.0.0.0/8".to_owned()]).unwrap(),
        timeout: Duration::from_secs(10),
        max_response_bytes: 1 << 20,
    })
    .unwrap();
    let executor = BuiltinExecutor::start(
        tasks.clone(),
        BuiltinSettings {
            client,
            secret: secret.clone(),
            public_url: "http://127.0.0.1:9".into(),
            callback_timeout: Duration::from_secs(30),
            script: ScriptSettings::default(),
            vault: SecretVault::new(store.shared(), &secrets),
        },
    );
    let receiver = Receiver::start(vec![]).await;

    let run_id = start_run(
        &runs,
        &catalog,
        json!({"name": "t2 calls", "steps": [
            {"id": "fetch", "type": "http_request", "url": receiver.url("/fetch"),
             "headers": {"Authorization": "Bearer {{ secrets.T2_TOKEN }}"}},
            {"id": "hook", "type": "webhook", "url": receiver.url("/hook"), "waitForCallback": true,
             "dependsOn": ["fetch"], "inputMap": {"lead": "$.input.lead"}},
        ]}),
    )
    .await;
    let received = receiver.wait_for(2, 20).await;
    assert_eq!(received[0].header("authorization"), Some("Bearer t2-token-value"), "t2's own secret");
    let callback_url = received[1].header("weft-callback-url").expect("a callback URL").to_owned();
    let token = callback_token(&callback_url);
    assert!(token.starts_with("t2."), "the token names the task's tenant: {token}");

    let body = br#"{"approved": true}"#;
    let signature = secret.sign_callback(token, now_secs(), body);
    let callbacks = CallbackReceiver::new(tasks.clone(), secret.clone());
    let callback = Callback { token, signature: Some(&signature), x_signature: None, x_timestamp: None, body };
    let (run, step) = callbacks.deliver(callback).await.unwrap();
    assert_eq!((run.as_str(), step.as_str()), (run_id.as_str(), "hook"));

    let run = finished(&runs, &run_id).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert!(runs.get("default", &run_id).await.is_err(), "tenant default does not see t2's run");

    // A secret configured only for tenant "default" is not t2's.
    let other = start_run(
        &runs,
        &catalog,
        json!({"name": "t2 borrows", "steps": [
            {"id": "fetch", "type": "http_request", "url": receiver.url("/borrow"),
             "headers": {"X-Key": "{{ secrets.DEFAULT_ONLY }}"}},
        ]}),
    )
    .await;
    let run = finished(&runs, &other).await;
    assert_eq!(run.status, RunStatus::Failed);
    let (_, steps) = runs.get(T2, &other).await.unwrap();
    let error = steps[0].error.clone().unwrap_or_default();
    assert!(error.contains("SECRET_NOT_FOUND") && error.contains("DEFAULT_ONLY"), "{error}");
    assert_eq!(receiver.received().len(), 2, "nothing was sent");

    executor.shutdown().await;
    tasks.shutdown().await;
    runs.shutdown().await;
    store.close().await;
}
