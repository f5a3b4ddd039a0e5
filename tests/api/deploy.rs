//! The deployment files: the kustomize base has a Deployment per role with
//! probes and resources, the API behind a Service, an HPA on the workers, the
//! Secret and the monitors ConfigMap (whose file upwatch accepts); the compose
//! file runs every role with tokens. `.ci/run` also validates each manifest
//! against the Kubernetes schemas (kubernetes-validate).

use std::path::Path;

use serde_json::Value;

fn yaml_documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    text.split("\n---\n")
        .map(|doc| {
            serde_yaml_ng::from_str::<Value>(doc).unwrap_or_else(|e| panic!("{path:?}: {e}"))
        })
        .collect()
}

fn base() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/k8s")
}

fn resources() -> Vec<Value> {
    let kustomization = yaml_documents(&base().join("kustomization.yaml")).remove(0);
    kustomization["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .flat_map(|file| yaml_documents(&base().join(file.as_str().unwrap())))
        .collect()
}

fn find<'a>(resources: &'a [Value], kind: &str, name: &str) -> &'a Value {
    resources
        .iter()
        .find(|r| r["kind"] == kind && r["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

#[test]
fn every_role_has_a_probed_bounded_deployment() {
    let resources = resources();
    for role in ["api", "scheduler", "folder", "notifier", "worker"] {
        let deployment = find(&resources, "Deployment", &format!("upwatch-{role}"));
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            container["args"],
            serde_json::json!(["serve", "--roles", role])
        );
        assert_eq!(
            container["livenessProbe"]["httpGet"]["path"], "/healthz",
            "{role}"
        );
        assert_eq!(
            container["readinessProbe"]["httpGet"]["path"], "/readyz",
            "{role}"
        );
        for bound in ["requests", "limits"] {
            let resources = &container["resources"][bound];
            assert!(
                resources["cpu"].is_string() && resources["memory"].is_string(),
                "{role} {bound}"
            );
        }
        let env = container["env"].as_array().unwrap();
        let named = |name: &str| env.iter().any(|e| e["name"] == name);
        assert!(
            named("UPWATCH_INSTANCE"),
            "{role}: distinct instance names per pod"
        );
        assert!(
            named(if role == "api" {
                "UPWATCH_BIND"
            } else {
                "UPWATCH_METRICS_BIND"
            }),
            "{role}"
        );
        assert_eq!(container["envFrom"][0]["secretRef"]["name"], "upwatch");
        let labels = &deployment["spec"]["template"]["metadata"]["labels"];
        assert_eq!(
            deployment["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"],
            role
        );
        assert_eq!(labels["app.kubernetes.io/component"], role);
    }
    let service = find(&resources, "Service", "upwatch");
    assert_eq!(
        service["spec"]["selector"]["app.kubernetes.io/component"],
        "api"
    );
    let hpa = find(&resources, "HorizontalPodAutoscaler", "upwatch-worker");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], "upwatch-worker");
    let secret = find(&resources, "Secret", "upwatch");
    for key in [
        "UPWATCH_DATABASE_URL",
        "UPWATCH_REDIS_URL",
        "UPWATCH_BOOTSTRAP_TOKEN",
    ] {
        assert!(secret["stringData"][key].is_string(), "{key}");
    }
    let bootstrap = secret["stringData"]["UPWATCH_BOOTSTRAP_TOKEN"]
        .as_str()
        .unwrap();
    assert!(upwatch::domain::token::TokenSecret::chosen(bootstrap).is_ok());
}

#[test]
fn the_configmap_holds_a_monitors_file_upwatch_accepts() {
    let resources = resources();
    let configmap = find(&resources, "ConfigMap", "upwatch-monitors");
    let file = configmap["data"]["monitors.yaml"].as_str().unwrap();
    let content =
        upwatch::manifest_file::decode(file, upwatch::manifest_file::Format::Yaml).unwrap();
    let manifest = upwatch::api::manifest_dto::parse_manifest(&content).expect("a valid file");
    assert!(!manifest.monitors.is_empty());
    let api = find(&resources, "Deployment", "upwatch-api");
    let mount = &api["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0];
    let env = api["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap();
    let file_setting = env
        .iter()
        .find(|e| e["name"] == "UPWATCH_MONITORS_FILE")
        .unwrap();
    let path = file_setting["value"].as_str().unwrap();
    assert!(path.starts_with(mount["mountPath"].as_str().unwrap()));
    assert!(path.ends_with("monitors.yaml"));
}

/// Resolves YAML merge keys (`<<: *anchor`), as compose does.
fn merged(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = match map.get("<<") {
                Some(base) => match merged(base) {
                    Value::Object(base) => base,
                    _ => serde_json::Map::new(),
                },
                None => serde_json::Map::new(),
            };
            for (key, item) in map {
                if key != "<<" {
                    out.insert(key.clone(), merged(item));
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(merged).collect()),
        other => other.clone(),
    }
}

#[test]
fn compose_runs_every_role_with_tokens() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("docker-compose.yml");
    let compose = merged(&yaml_documents(&file).remove(0));
    for role in ["api", "scheduler", "folder", "notifier", "worker"] {
        let service = &compose["services"][role];
        assert_eq!(service["command"][2], role, "{role}");
        assert_eq!(service["environment"]["UPWATCH_AUTH"], "tokens", "{role}");
        assert!(
            service["environment"]["UPWATCH_BOOTSTRAP_TOKEN"].is_string(),
            "{role}"
        );
        assert!(
            service["healthcheck"]["test"].is_array(),
            "{role} is health-checked"
        );
    }
}
