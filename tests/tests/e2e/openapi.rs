//! The OpenAPI document at `/openapi.json` and Swagger UI at `/docs`.
//!
//! A REST route is mounted and documented by one registration (`routes!` in each family), so
//! nothing is mounted undocumented; these tests check the other direction (every documented
//! route answers as mounted), that every route the legacy references name is documented, and
//! that the document holds together.
use std::collections::HashSet;

use serde_json::Value;
use wharf_tests::TestApp;

/// Every REST route shared/reference/ and the README name. Parameter names do not matter:
/// paths compare with each `{…}` blanked.
const REFERENCED: &[(&str, &str)] = &[
    // DBS (dbs-uploader.md §3): getStatus, getLink and getHistory are taken as GET and POST.
    ("get", "/"),
    ("post", "/getQuote"),
    ("post", "/register"),
    ("get", "/getStatus"),
    ("post", "/getStatus"),
    ("get", "/getLink"),
    ("post", "/getLink"),
    ("get", "/getHistory"),
    ("post", "/getHistory"),
    ("post", "/upload"),
    // web-core (webcore.md §4)
    ("post", "/accounts/token/new"),
    ("get", "/accounts/token/prices"),
    ("get", "/accounts/token/balance/{token}"),
    ("post", "/accounts/token/redeem/{token}"),
    ("post", "/accounts/token/deposit/{token}"),
    ("post", "/accounts/token/withdraw/{token}"),
    ("post", "/api/upload"),
    ("get", "/api/download/{filehash}"),
    ("get", "/api/find/{filehash}"),
    ("get", "/api/status"),
    // delta-dm (README, delta-dm.md §6.1)
    ("get", "/api/v1/health"),
    ("get", "/api/v1/datasets"),
    ("post", "/api/v1/datasets"),
    ("put", "/api/v1/datasets/{id}"),
    ("get", "/api/v1/contents/{dataset}"),
    ("post", "/api/v1/contents/{dataset}"),
    ("post", "/api/v1/contents"),
    ("get", "/api/v1/providers"),
    ("post", "/api/v1/providers"),
    ("put", "/api/v1/providers/{id}"),
    ("get", "/api/v1/replication-profiles"),
    ("post", "/api/v1/replication-profiles"),
    ("put", "/api/v1/replication-profiles"),
    ("delete", "/api/v1/replication-profiles"),
    ("post", "/api/v1/replications"),
    ("get", "/api/v1/replications"),
    ("post", "/api/v1/wallets"),
    ("get", "/api/v1/wallets"),
    ("delete", "/api/v1/wallets/{address}"),
    ("post", "/api/v1/wallets/associate"),
    ("get", "/api/v1/self-service/by-cid/{piece}"),
    ("get", "/api/v1/self-service/by-dataset/{name}"),
    ("get", "/api/v1/self-service/available-contents"),
    ("put", "/api/v1/self-service/telemetry/{cid}"),
    // The trustless gateway (content-addressing.md §8)
    ("get", "/ipfs/{cid}"),
    ("head", "/ipfs/{cid}"),
    ("get", "/ipfs/{cid}/{path}"),
    ("head", "/ipfs/{cid}/{path}"),
    // Ocean Provider (ocean-provider.md §3) and the DDO route
    ("get", "/provider"),
    ("get", "/provider/api/services/nonce"),
    ("post", "/provider/api/services/encrypt"),
    ("post", "/provider/api/services/decrypt"),
    ("get", "/provider/api/services/initialize"),
    ("get", "/provider/api/services/download"),
    ("post", "/provider/api/services/fileinfo"),
    ("get", "/api/aquarius/assets/ddo/{did}"),
    // Operations
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
];

const TAGS: &[&str] = &[
    "dbs",
    "delta-dm",
    "web-core",
    "gateway",
    "provider",
    "compute",
    "operations",
];

async fn document(app: &TestApp) -> Value {
    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Every (method, path) of the document.
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            out.push((method.clone(), path.clone(), operation));
        }
    }
    out
}

/// `/a/{x}/b` -> `/a/{}/b`.
fn blanked(path: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in path.chars() {
        match c {
            '{' => {
                inside = true;
                out.push_str("{}");
            }
            '}' => inside = false,
            _ if !inside => out.push(c),
            _ => {}
        }
    }
    out
}

/// A plausible value for a path parameter: each route's own checks run on it.
fn sample(name: &str) -> String {
    let (piece, payload) = wharf_tests::piece_cids(1);
    match name {
        "token" => "AAAAAAAAAAAAAAAA".into(),
        "dataset_id" | "dataset" => "1".into(),
        "provider_id" => "f01000".into(),
        "wallet" => "f1abcdefghijklmnopqrstuvwxyz234567abcdefg".into(),
        "piece" | "pieceCid" => piece,
        "cid" => payload,
        "path" => "file.txt".into(),
        "did" => "did:op:0000000000000000000000000000000000000000000000000000000000000000".into(),
        "id" => "00000000000000000000000000000000".into(),
        "index" => "0".into(),
        "filehash" => "0000000000000000000000000000000000000000000000000000000000000000".into(),
        other => panic!("no sample value for path parameter {{{other}}}: add one"),
    }
}

fn substituted(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').unwrap() + start;
        out.push_str(&rest[..start]);
        out.push_str(&sample(&rest[start + 1..end]));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn every_referenced_route_is_documented() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "wharf");
    assert!(
        doc["info"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("GraphQL")),
        "the description points to GraphQL"
    );

    let documented: HashSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(method, path, _)| (method, blanked(&path)))
        .collect();
    let missing: Vec<_> = REFERENCED
        .iter()
        .filter(|(method, path)| !documented.contains(&(method.to_string(), blanked(path))))
        .collect();
    assert!(missing.is_empty(), "not documented: {missing:?}");
    // GraphQL is not REST: it has its own schema.
    assert!(
        documented
            .iter()
            .all(|(_, path)| !path.starts_with("/graphql")),
        "GraphQL routes are left out"
    );
}

#[tokio::test]
async fn every_documented_route_is_mounted() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;

    // The router's own 404 is marked, so that a route's 404 (an unknown quote, a block not
    // stored) is told apart from no route at all.
    let none = app
        .client
        .get(app.url("/no/such/route"))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 404);
    assert_eq!(none.headers()["x-wharf-route"], "none");

    let operations = operations(&doc);
    assert!(operations.len() >= REFERENCED.len());
    for (method, path, _) in operations {
        let url = app.url(&substituted(&path));
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        // No credentials: the protected routes answer 401 themselves, and change nothing.
        let response = app
            .client
            .request(method.clone(), &url)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert!(
            response.headers().get("x-wharf-route").is_none(),
            "{method} {path} is documented but not mounted ({url} answered {status})"
        );
        assert_ne!(
            status, 405,
            "{method} {path} is documented but {method} is not mounted"
        );
    }
}

#[tokio::test]
async fn the_document_holds_together() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    assert_eq!(schemes["operator"]["scheme"], "bearer");
    assert_eq!(schemes["provider_key"]["in"], "header");
    assert_eq!(schemes["provider_key"]["name"], "X-DELTA-AUTH");
    assert_eq!(schemes["webcore_secret"]["name"], "Authentication");

    let mut ids = HashSet::new();
    for (method, path, operation) in operations(&doc) {
        let here = format!("{method} {path}");
        let id = operation["operationId"].as_str().expect("an operation id");
        assert!(
            ids.insert(id.to_string()),
            "{here}: operation id {id} twice"
        );
        let tags: Vec<&str> = operation["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            tags.len() == 1 && TAGS.contains(&tags[0]),
            "{here}: tags {tags:?}"
        );
        assert!(
            operation["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{here}: no summary"
        );
        assert!(
            operation["responses"]
                .as_object()
                .is_some_and(|r| r.keys().any(|code| code.starts_with('2'))),
            "{here}: no success response"
        );

        // Each `{name}` of the path is a declared path parameter, and the reverse.
        let mut in_path: Vec<&str> = path
            .split('{')
            .skip(1)
            .filter_map(|p| p.split('}').next())
            .collect();
        let mut declared: Vec<&str> = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "path")
            .filter_map(|p| p["name"].as_str())
            .collect();
        in_path.sort();
        declared.sort();
        assert_eq!(in_path, declared, "{here}: path parameters");

        // The legacy credentials, where the legacy systems asked for them.
        let security: Vec<&str> = operation["security"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .flat_map(|requirement| requirement.keys().map(String::as_str))
            .collect();
        let expected: &[&str] = if path.starts_with("/api/v1/self-service/") {
            &["provider_key"]
        } else if path.starts_with("/api/v1/") {
            &["operator"]
        } else if path.starts_with("/accounts/token/deposit/")
            || path.starts_with("/accounts/token/withdraw/")
        {
            &["webcore_secret"]
        } else if path.starts_with("/compute/") {
            &["bearer"]
        } else {
            &[]
        };
        assert_eq!(security, expected, "{here}: security");
    }

    // Every schema reference resolves.
    let text = doc.to_string();
    for name in text
        .split("\"$ref\":\"#/components/schemas/")
        .skip(1)
        .filter_map(|r| r.split('"').next())
    {
        assert!(
            schemas.contains_key(name),
            "{name} is referenced but not defined"
        );
    }
}

#[tokio::test]
async fn swagger_ui_is_served_from_wharf_itself() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // `/docs` sends browsers to `/docs/`, whose relative asset paths then resolve under it.
    let response = client.get(app.url("/docs")).send().await.unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    assert_eq!(response.headers()["location"], "/docs/");

    let response = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.url().path(), "/docs/");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = response.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no asset from another host: {html}"
    );

    // Each asset the page loads is embedded in the binary.
    let assets: Vec<&str> = html
        .split(['"', '\''])
        .filter(|s| s.ends_with(".js") || s.ends_with(".css") || s.ends_with(".png"))
        .collect();
    assert!(assets.len() >= 4, "{assets:?}");
    for asset in assets {
        let url = app.url(&format!("/docs/{}", asset.trim_start_matches("./")));
        let response = app.client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
    }
    // The page loads wharf's document, and no validator badge from swagger.io.
    let initializer = app
        .client
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(initializer.contains("\"/openapi.json\""), "{initializer}");
    assert!(
        !initializer.contains("http://") && !initializer.contains("https://"),
        "{initializer}"
    );
}
