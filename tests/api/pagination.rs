use std::collections::HashSet;

use serde_json::json;

use crate::helpers::spawn_app;

#[actix_web::test]
async fn monitors_page_through_every_item_exactly_once() {
    let app = spawn_app().await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(
            app.create_named(&format!("m{i}")).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let (items, pages) = app.collect_pages("/api/v1/monitors?limit=3").await;
    assert_eq!(pages, 3);
    let ids: Vec<String> = items
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, created, "oldest first, none lost or repeated");

    let (_, exact) = app.get_json("/api/v1/monitors?limit=7").await;
    assert_eq!(exact["items"].as_array().unwrap().len(), 7);
    assert_eq!(exact["next_cursor"], serde_json::Value::Null);
}

#[actix_web::test]
async fn filters_hold_across_pages() {
    let app = spawn_app().await;
    for i in 0..6 {
        let tags = if i % 2 == 0 {
            json!(["even"])
        } else {
            json!(["odd"])
        };
        app.create_monitor(
            json!({"name": format!("m{i}"), "url": "http://a.example", "tags": tags}),
        )
        .await;
    }
    let (items, pages) = app.collect_pages("/api/v1/monitors?tag=even&limit=2").await;
    assert_eq!(pages, 2);
    let names: Vec<&str> = items.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["m0", "m2", "m4"]);
}

#[actix_web::test]
async fn events_page_in_sequence_order_globally_and_per_monitor() {
    let app = spawn_app().await;
    let a = app.create_named("a").await;
    let b = app.create_named("b").await;
    let a_id = a["id"].as_str().unwrap();
    for threshold in 2..=5 {
        app.patch_monitor(a_id, &json!({"failure_threshold": threshold}), None)
            .await;
    }
    app.post_empty(&format!(
        "/api/v1/monitors/{}/pause",
        b["id"].as_str().unwrap()
    ))
    .await;

    let (global, pages) = app.collect_pages("/api/v1/events?limit=2").await;
    assert_eq!(global.len(), 7);
    assert_eq!(pages, 4);
    let seqs: Vec<i64> = global.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let unique: HashSet<i64> = seqs.iter().copied().collect();
    assert_eq!(unique.len(), seqs.len());

    let (_, after) = app
        .get_json(&format!("/api/v1/events?after_seq={}", seqs[4]))
        .await;
    let tail: Vec<i64> = after["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(tail, seqs[5..]);

    let (own, pages) = app
        .collect_pages(&format!("/api/v1/monitors/{a_id}/events?limit=2"))
        .await;
    assert_eq!(pages, 3);
    let monitor_seqs: Vec<i64> = own
        .iter()
        .map(|e| e["monitor_seq"].as_i64().unwrap())
        .collect();
    assert_eq!(monitor_seqs, [1, 2, 3, 4, 5]);
    assert!(own.iter().all(|e| e["monitor_id"] == a["id"]));
}
