//! 002 (`/workflows`), golden: state-machine workflows are created, listed
//! in `{data, meta}` (20 by default, `sort` and `order`), read, replaced and
//! deleted in the document's shapes, and an execution shows `currentState`
//! moving from the initial state to the final one and a `stateHistory` of
//! every state entered, with examples of our own (see `weft_tests::shape`).

use serde_json::{Value, json};
use weft_tests::http1;
use weft_tests::shape::assert_shape;
use weft_tests::workers::{complete_request, poll_one, register};
use weft_tests::{TestServer, eventually};

fn onboarding(name: &str) -> Value {
    json!({
        "name": name,
        "description": "Signs a new customer up",
        "states": {
            "initial": {"type": "task", "task": "checkDetails", "next": "openAccount"},
            "openAccount": {"type": "task", "task": "openAccount", "next": "done"},
            "done": {"type": "succeed"}
        },
        "functions": ["checkDetails", "openAccount"]
    })
}

fn workflow_shape() -> Value {
    json!({"id": "w", "name": "n", "description": "d", "states": {"...": true}, "functions": ["f"],
        "createdAt": "t", "updatedAt": "t", "...": true})
}

#[tokio::test]
async fn workflows_and_executions_answer_in_the_state_machine_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let addr = server.addr;

    let mut ids = Vec::new();
    for name in ["first", "second", "third"] {
        let (status, created) = http1::json(addr, "POST", "/workflows", Some(onboarding(name))).await;
        assert_eq!(status, 201, "{created}");
        assert_shape(&created, &workflow_shape(), "create");
        ids.push(created["id"].as_str().unwrap().to_string());
    }

    let item = json!({"id": "w", "name": "n", "description": "d", "createdAt": "t", "updatedAt": "t", "...": true});
    let (status, listed) = http1::json(addr, "GET", "/workflows?sort=createdAt&order=asc", None).await;
    assert_eq!(status, 200, "{listed}");
    assert_shape(&listed, &json!({"data": [item], "meta": {"total": 3, "limit": 20, "offset": 0}}), "list");
    assert_eq!(listed["meta"], json!({"total": 3, "limit": 20, "offset": 0}));
    let names: Vec<&str> = listed["data"].as_array().unwrap().iter().map(|w| w["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["first", "second", "third"], "oldest first when asked");
    let (_, newest) = http1::json(addr, "GET", "/workflows?limit=2&offset=1", None).await;
    assert_eq!(newest["meta"], json!({"total": 3, "limit": 2, "offset": 1}));
    assert_eq!(newest["data"][0]["name"], "second", "newest first by default");
    // A query `limit` of 0 means the family's default, as leaving it out does.
    let (status, zero) = http1::json(addr, "GET", "/workflows?limit=0", None).await;
    assert_eq!(status, 200, "{zero}");
    assert_eq!(zero["meta"], json!({"total": 3, "limit": 20, "offset": 0}));
    let (status, bad) = http1::json(addr, "GET", "/workflows?sort=colour", None).await;
    assert_eq!(status, 400, "{bad}");

    let id = &ids[0];
    let (status, fetched) = http1::json(addr, "GET", &format!("/workflows/{id}"), None).await;
    assert_eq!(status, 200);
    assert_shape(&fetched, &workflow_shape(), "get");
    let (status, replaced) =
        http1::json(addr, "PUT", &format!("/workflows/{id}"), Some(onboarding("first, improved"))).await;
    assert_eq!(status, 200, "{replaced}");
    assert_shape(&replaced, &workflow_shape(), "update");

    register(&client, "onboarder", &["checkDetails", "openAccount"]).await;
    let input = json!({"customer": {"name": "Ada", "email": "ada@example.com"}});
    let (status, execution) =
        http1::json(addr, "POST", &format!("/workflows/{id}/execute"), Some(json!({"input": input}))).await;
    assert!(status == 200 || status == 202, "{status} {execution}");
    let started = json!({"id": "e", "workflowId": "w", "status": "s", "input": {"customer": {"...": true}},
        "currentState": "initial", "createdAt": "t", "...": true});
    assert_shape(&execution, &started, "execute");
    assert_eq!(execution["currentState"], "initial", "a new execution is at the initial state");
    let execution_id = execution["id"].as_str().unwrap().to_string();

    for output in [json!({"valid": true}), json!({"accountId": "acct_1"})] {
        let task = poll_one(&client, "onboarder").await;
        client.workers().complete_task(complete_request(&task, &output, None)).await.unwrap();
    }
    let finished = eventually("the execution completes", 10, || async {
        let (_, got) = http1::json(addr, "GET", &format!("/workflows/executions/{execution_id}"), None).await;
        (got["status"] == "completed").then_some(got).ok_or("not yet")
    })
    .await;
    let state = json!({"state": "s", "enteredAt": "t", "exitedAt": null, "output": null, "...": true});
    let documented = json!({"id": "e", "workflowId": "w", "status": "completed", "input": {"...": true},
        "output": null, "currentState": "done", "stateHistory": [state], "createdAt": "t", "completedAt": "t", "...": true});
    assert_shape(&finished, &documented, "execution");
    let history = finished["stateHistory"].as_array().unwrap();
    let states: Vec<&str> = history.iter().map(|s| s["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["initial", "openAccount", "done"], "every state entered, the final one included");
    assert_eq!(finished["currentState"], "done");
    assert!(history[0]["exitedAt"].is_string(), "{history:?}");
    assert_eq!(history[2]["exitedAt"], Value::Null, "the final state is never exited");
    assert_eq!(history[1]["output"], json!({"accountId": "acct_1"}));

    let (status, deleted) = http1::json(addr, "DELETE", &format!("/workflows/{}", ids[2]), None).await;
    assert_eq!(status, 200);
    assert_shape(&deleted, &json!({"success": true, "message": "m"}), "delete");
}
