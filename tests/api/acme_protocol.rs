//! The ACME server's protocol rules, with a small hand-made client (ES256 with ring) so each
//! request can be bent exactly: nonces, headers, URL checks, accounts, problem documents.

use base64::Engine as _;
use reqwest::header::HeaderMap;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

use crate::support::{Db, TestApp, both_databases};

both_databases!(
    nonces_and_headers_on_every_response,
    accounts_are_per_key_and_errors_are_problem_documents,
    orders_refuse_bad_identifiers_and_early_finalize,
    key_change_moves_the_account_to_a_new_key,
    operators_list_and_deactivate_accounts,
    renewal_information_and_replaces,
    external_account_binding_when_required,
    the_project_policy_limits_names_keys_and_lifetime,
);

mod recovery;
mod revoke;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

struct Client {
    http: reqwest::Client,
    key: EcdsaKeyPair,
    directory: Value,
    kid: Option<String>,
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Client {
    async fn new(app: &TestApp) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        Self::with_key(app, pkcs8.as_ref()).await
    }

    /// A client signing with the P-256 key `pkcs8` (a certificate's own key, for revokeCert).
    async fn with_key(app: &TestApp, pkcs8: &[u8]) -> Self {
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng).unwrap();
        let url = format!("{}/acme/{}/directory", app.base, app.project.id);
        let directory = app
            .http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Self {
            http: app.http.clone(),
            key,
            directory,
            kid: None,
        }
    }

    fn url(&self, name: &str) -> String {
        self.directory[name].as_str().unwrap().to_string()
    }

    fn jwk(&self) -> Value {
        let p = self.key.public_key().as_ref();
        json!({"kty": "EC", "crv": "P-256", "x": b64(&p[1..33]), "y": b64(&p[33..])})
    }

    async fn nonce(&self) -> String {
        let r = self.http.head(self.url("newNonce")).send().await.unwrap();
        r.headers()["replay-nonce"].to_str().unwrap().to_string()
    }

    fn body(&self, url: &str, nonce: &str, payload: Option<&Value>) -> Vec<u8> {
        let mut header = json!({"alg": "ES256", "nonce": nonce, "url": url});
        match &self.kid {
            Some(kid) => header["kid"] = kid.clone().into(),
            None => header["jwk"] = self.jwk(),
        }
        let protected = b64(header.to_string().as_bytes());
        let payload = payload.map_or(String::new(), |p| b64(p.to_string().as_bytes()));
        let sig = self
            .key
            .sign(
                &SystemRandom::new(),
                format!("{protected}.{payload}").as_bytes(),
            )
            .unwrap();
        json!({"protected": protected, "payload": payload, "signature": b64(sig.as_ref())})
            .to_string()
            .into_bytes()
    }

    async fn send(&self, to: &str, body: Vec<u8>) -> Answer {
        let r = self
            .http
            .post(to)
            .header("content-type", "application/jose+json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        Answer {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }

    async fn post(&self, url: &str, payload: Option<&Value>) -> Answer {
        let nonce = self.nonce().await;
        self.send(url, self.body(url, &nonce, payload)).await
    }

    async fn register(&mut self) -> Answer {
        let a = self
            .post(
                &self.url("newAccount"),
                Some(
                    &json!({"termsOfServiceAgreed": true, "contact": ["mailto:ops@example.test"]}),
                ),
            )
            .await;
        self.kid = Some(a.headers["location"].to_str().unwrap().to_string());
        a
    }
}

fn assert_problem(a: &Answer, status: u16, kind: &str) {
    assert_eq!(a.status, status, "{:?}", a.body);
    assert_eq!(a.headers["content-type"], "application/problem+json");
    assert_eq!(
        a.body["type"],
        format!("urn:ietf:params:acme:error:{kind}"),
        "{:?}",
        a.body
    );
    assert!(
        a.headers.contains_key("replay-nonce"),
        "a fresh nonce on every error"
    );
    assert_eq!(a.headers["cache-control"], "no-store");
}

async fn nonces_and_headers_on_every_response(db: Db) {
    let app = TestApp::spawn(db).await;
    let client = Client::new(&app).await;
    let dir = format!("{}/acme/{}/directory", app.base, app.project.id);
    for (method, status) in [(reqwest::Method::HEAD, 200), (reqwest::Method::GET, 204)] {
        let r = app
            .http
            .request(method, client.url("newNonce"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status);
        assert!(!r.headers()["replay-nonce"].is_empty());
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert_eq!(r.headers()["link"], format!("<{dir}>;rel=\"index\""));
    }
    // Links come from the configured public URL, whatever Host the client sent.
    let r: Value = app
        .http
        .get(&dir)
        .header("host", "evil.example")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        r["newOrder"].as_str().unwrap().starts_with(&app.base),
        "{r}"
    );
    let unknown = app
        .http
        .get(format!(
            "{}/acme/{}/directory",
            app.base,
            uuid::Uuid::new_v4()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        unknown.headers()["content-type"],
        "application/problem+json"
    );
}

async fn accounts_are_per_key_and_errors_are_problem_documents(db: Db) {
    let app = TestApp::spawn(db).await;
    let mut client = Client::new(&app).await;
    let created = client.register().await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["status"], "valid");
    assert_eq!(created.body["contact"], json!(["mailto:ops@example.test"]));
    let kid = client.kid.clone().unwrap();

    // The same key again: the same account, 200.
    let mut again = Client {
        kid: None,
        ..Client::new(&app).await
    };
    again.key = client.key;
    let a = again
        .post(
            &again.url("newAccount"),
            Some(&json!({"onlyReturnExisting": true})),
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.headers["location"].to_str().unwrap(), kid);
    client = again;
    client.kid = Some(kid.clone());

    let stranger = Client::new(&app).await;
    let missing = stranger
        .post(
            &stranger.url("newAccount"),
            Some(&json!({"onlyReturnExisting": true})),
        )
        .await;
    assert_problem(&missing, 400, "accountDoesNotExist");
    let bad_contact = stranger
        .post(
            &stranger.url("newAccount"),
            Some(&json!({"contact": ["tel:+100"]})),
        )
        .await;
    assert_problem(&bad_contact, 400, "unsupportedContact");

    // A nonce is good once.
    let url = kid.clone();
    let nonce = client.nonce().await;
    assert_eq!(
        client
            .send(&url, client.body(&url, &nonce, None))
            .await
            .status,
        200
    );
    let replay = client.send(&url, client.body(&url, &nonce, None)).await;
    assert_problem(&replay, 400, "badNonce");
    let forged = client
        .send(&url, client.body(&url, "bm90LW91cnM", None))
        .await;
    assert_problem(&forged, 400, "badNonce");

    // The signed url must be where the request went.
    let nonce = client.nonce().await;
    let elsewhere = client
        .send(&url, client.body(&client.url("newOrder"), &nonce, None))
        .await;
    assert_problem(&elsewhere, 403, "unauthorized");

    // Not JOSE.
    let r = app
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");

    // Deactivation, after which the account can do nothing.
    let off = client
        .post(&url, Some(&json!({"status": "deactivated"})))
        .await;
    assert_eq!(off.body["status"], "deactivated");
    let after = client
        .post(
            &client.url("newOrder"),
            Some(&json!({"identifiers": [{"type": "dns", "value": "a.example.test"}]})),
        )
        .await;
    assert_problem(&after, 403, "unauthorized");
}

async fn orders_refuse_bad_identifiers_and_early_finalize(db: Db) {
    let app = TestApp::spawn(db).await;
    let mut client = Client::new(&app).await;
    client.register().await;
    let bad = client
        .post(
            &client.url("newOrder"),
            Some(&json!({"identifiers": [{"type": "dns", "value": "ok.example.test"}, {"type": "dns", "value": "not a name"}, {"type": "ip", "value": "127.0.0.1"}]})),
        )
        .await;
    assert_eq!(bad.status, 400);
    let subs = bad.body["subproblems"].as_array().unwrap();
    assert_eq!(subs.len(), 2, "{:?}", bad.body);
    assert_eq!(subs[0]["identifier"]["value"], "not a name");
    assert_eq!(
        subs[0]["type"],
        "urn:ietf:params:acme:error:rejectedIdentifier"
    );
    assert_eq!(
        subs[1]["type"],
        "urn:ietf:params:acme:error:unsupportedIdentifier"
    );

    let order = client
        .post(&client.url("newOrder"), Some(&json!({"identifiers": [{"type": "dns", "value": "*.w.example.test"}, {"type": "dns", "value": "w.example.test"}]})))
        .await;
    assert_eq!(order.status, 201, "{:?}", order.body);
    assert_eq!(order.body["status"], "pending");
    // Seconds or an HTTP date, at random (as pebble does).
    let retry = order.headers["retry-after"].to_str().unwrap();
    assert!(retry == "1" || retry.ends_with(" GMT"), "{retry}");
    let authzs = order.body["authorizations"].as_array().unwrap().clone();
    assert_eq!(authzs.len(), 2);
    for url in &authzs {
        let a = client.post(url.as_str().unwrap(), None).await;
        let mut kinds: Vec<&str> = a.body["challenges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect();
        // The order of challenges is not promised (and is shuffled).
        kinds.sort();
        if a.body["wildcard"] == true {
            assert_eq!(kinds, ["dns-01"], "a wildcard is proved by DNS only");
        } else {
            assert_eq!(kinds, ["dns-01", "http-01", "tls-alpn-01"]);
        }
    }
    let early = client
        .post(
            order.body["finalize"].as_str().unwrap(),
            Some(&json!({"csr": "AAAA"})),
        )
        .await;
    assert_problem(&early, 403, "orderNotReady");
    // Another account cannot see this order.
    let mut other = Client::new(&app).await;
    other.register().await;
    let peek = other
        .post(order.headers["location"].to_str().unwrap(), None)
        .await;
    assert_eq!(peek.status, 404);
}

async fn key_change_moves_the_account_to_a_new_key(db: Db) {
    let app = TestApp::spawn(db).await;
    let mut old = Client::new(&app).await;
    old.register().await;
    let kid = old.kid.clone().unwrap();
    let url = old.url("keyChange");
    let new = Client::new(&app).await; // signs the inner JWS with its jwk, no nonce
    let inner = |account: &str, old_key: &Value| -> Value {
        let protected = b64(json!({"alg": "ES256", "url": url, "jwk": new.jwk()})
            .to_string()
            .as_bytes());
        let payload = b64(json!({"account": account, "oldKey": old_key})
            .to_string()
            .as_bytes());
        let sig = new
            .key
            .sign(
                &SystemRandom::new(),
                format!("{protected}.{payload}").as_bytes(),
            )
            .unwrap();
        json!({"protected": protected, "payload": payload, "signature": b64(sig.as_ref())})
    };
    // The inner payload must name this account and its current key.
    let wrong = old.post(&url, Some(&inner(&kid, &new.jwk()))).await;
    assert_problem(&wrong, 403, "unauthorized");
    let moved = old.post(&url, Some(&inner(&kid, &old.jwk()))).await;
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    // The old key no longer signs for the account; the new one does.
    let stale = old.post(&kid, None).await;
    assert_problem(&stale, 403, "unauthorized");
    let mut now = new;
    now.kid = Some(kid.clone());
    assert_eq!(now.post(&kid, None).await.status, 200);
    // A key another account holds is refused with that account's URL.
    let mut third = Client::new(&app).await;
    third.register().await;
    let third_kid = third.kid.clone().unwrap();
    let protected = b64(json!({"alg": "ES256", "url": url, "jwk": now.jwk()})
        .to_string()
        .as_bytes());
    let payload = b64(json!({"account": third_kid, "oldKey": third.jwk()})
        .to_string()
        .as_bytes());
    let sig = now
        .key
        .sign(
            &SystemRandom::new(),
            format!("{protected}.{payload}").as_bytes(),
        )
        .unwrap();
    let taken = third
        .post(&url, Some(&json!({"protected": protected, "payload": payload, "signature": b64(sig.as_ref())})))
        .await;
    assert_eq!(taken.status, 409, "{:?}", taken.body);
    assert_eq!(taken.headers["location"].to_str().unwrap(), kid);
}

async fn operators_list_and_deactivate_accounts(db: Db) {
    let app = TestApp::spawn(db).await;
    let mut client = Client::new(&app).await;
    client.register().await;
    let kid = client.kid.clone().unwrap();
    let id = kid.rsplit('/').next().unwrap().to_string();
    let base = format!("/api/v1/projects/{}/acme/accounts", app.project.id);
    let list = app
        .call(reqwest::Method::GET, &base, Some(&app.admin_key), None)
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    let accounts = list.body["result"].as_array().unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0]["id"], id.as_str());
    assert_eq!(accounts[0]["url"], kid.as_str());
    assert_eq!(accounts[0]["status"], "valid");
    assert_eq!(accounts[0]["contact"], json!(["mailto:ops@example.test"]));

    let viewer = app.key(certkeeper_domain::apikey::Role::Viewer, None).await;
    let deactivate = format!("{base}/{id}/deactivate");
    app.call(reqwest::Method::POST, &deactivate, Some(&viewer), None)
        .await
        .assert_error(403, "admin");
    app.call(
        reqwest::Method::POST,
        &format!("{base}/nope/deactivate"),
        Some(&app.admin_key),
        None,
    )
    .await
    .assert_error(404, "no ACME account");
    let off = app
        .call(
            reqwest::Method::POST,
            &deactivate,
            Some(&app.admin_key),
            None,
        )
        .await;
    assert_eq!(off.status, 200, "{}", off.text);
    assert_eq!(off.body["result"]["status"], "deactivated");
    let refused = client.post(&kid, None).await;
    assert_problem(&refused, 403, "unauthorized");
}

impl Client {
    fn thumbprint(&self) -> String {
        let j = self.jwk();
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            j["x"].as_str().unwrap(),
            j["y"].as_str().unwrap()
        );
        b64(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()).as_ref())
    }

    /// Publishes, in the app's DNS, the TXT record the authorization's dns-01 challenge asks
    /// for; returns that challenge.
    async fn publish_dns01(&self, app: &TestApp, name: &str, authz: &Value) -> Value {
        let ch = authz["challenges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "dns-01")
            .unwrap()
            .clone();
        let key_auth = format!("{}.{}", ch["token"].as_str().unwrap(), self.thumbprint());
        let value = b64(ring::digest::digest(&ring::digest::SHA256, key_auth.as_bytes()).as_ref());
        app.dns
            .set_txt(&format!("_acme-challenge.{name}"), &[&value])
            .await;
        ch
    }

    /// An order for `name` proved by dns-01 in the app's DNS, finalized; its PEM chain.
    async fn issue_dns01(
        &self,
        app: &TestApp,
        name: &str,
        replaces: Option<&str>,
    ) -> (Answer, Option<String>) {
        let key = rcgen::KeyPair::generate().unwrap();
        self.issue_dns01_keyed(app, name, replaces, &key).await
    }

    /// [`Self::issue_dns01`] for a certificate key of the caller's.
    async fn issue_dns01_keyed(
        &self,
        app: &TestApp,
        name: &str,
        replaces: Option<&str>,
        key: &rcgen::KeyPair,
    ) -> (Answer, Option<String>) {
        let mut payload = json!({"identifiers": [{"type": "dns", "value": name}]});
        if let Some(r) = replaces {
            payload["replaces"] = r.into();
        }
        let order = self.post(&self.url("newOrder"), Some(&payload)).await;
        if order.status != 201 {
            return (order, None);
        }
        let authz = self
            .post(order.body["authorizations"][0].as_str().unwrap(), None)
            .await;
        if authz.body["status"] != "valid" {
            let ch = self.publish_dns01(app, name, &authz.body).await;
            let done = self
                .post(ch["url"].as_str().unwrap(), Some(&json!({})))
                .await;
            assert_eq!(done.body["status"], "valid", "{:?}", done.body);
        }
        let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
        // rcgen's default subject CN is a name the order does not have: refused, order kept.
        let foreign = params.serialize_request(key).unwrap();
        let refused = self
            .post(
                order.body["finalize"].as_str().unwrap(),
                Some(&json!({"csr": b64(foreign.der())})),
            )
            .await;
        assert_problem(&refused, 400, "badCSR");
        params.distinguished_name = rcgen::DistinguishedName::new();
        let csr = params.serialize_request(key).unwrap();
        let finalized = self
            .post(
                order.body["finalize"].as_str().unwrap(),
                Some(&json!({"csr": b64(csr.der())})),
            )
            .await;
        assert_eq!(finalized.body["status"], "valid", "{:?}", finalized.body);
        let cert = self
            .post(finalized.body["certificate"].as_str().unwrap(), None)
            .await;
        assert_eq!(
            cert.headers["content-type"],
            "application/pem-certificate-chain"
        );
        (finalized, cert.body.as_str().map(String::from))
    }
}

/// The ARI identifier of a PEM certificate, read back with openssl.
fn ari_id(dir: &std::path::Path, pem: &str) -> String {
    let path = dir.join("leaf.pem");
    std::fs::write(&path, pem).unwrap();
    let out = std::process::Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-serial",
            "-ext",
            "authorityKeyIdentifier",
            "-in",
        ])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let serial = text
        .lines()
        .find_map(|l| l.strip_prefix("serial="))
        .unwrap();
    let aki = text
        .lines()
        .map(|l| l.trim().trim_start_matches("keyid:"))
        .find(|l| l.len() > 20 && l.chars().all(|c| c == ':' || c.is_ascii_hexdigit()))
        .unwrap()
        .replace(':', "");
    format!(
        "{}.{}",
        b64(&hex::decode(aki).unwrap()),
        b64(&hex::decode(serial).unwrap())
    )
}

async fn renewal_information_and_replaces(db: Db) {
    let app = TestApp::spawn(db).await;
    let mut client = Client::new(&app).await;
    client.register().await;
    let (_, pem) = client.issue_dns01(&app, "ari.example.test", None).await;
    let dir = tempfile::tempdir().unwrap();
    let id = ari_id(dir.path(), &pem.unwrap());
    let info_url = format!("{}/{id}", client.url("renewalInfo"));
    let info = app.http.get(&info_url).send().await.unwrap();
    assert_eq!(info.status(), 200);
    assert_eq!(info.headers()["retry-after"], "21600");
    let body: Value = info.json().await.unwrap();
    let at = |k: &str| {
        time::OffsetDateTime::parse(
            body["suggestedWindow"][k].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    let (start, end) = (at("start"), at("end"));
    // 90 days (+5 minutes' backdating): from about day 70 to about day 80.
    let now = app.core.now();
    assert!(
        ((start - now) - time::Duration::days(70)).abs() < time::Duration::hours(1),
        "{start} {now}"
    );
    assert!(
        (end - start - time::Duration::days(10)).abs() < time::Duration::hours(1),
        "{start} {end}"
    );
    let bad = app
        .http
        .get(format!("{}/nodot", client.url("renewalInfo")))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let unknown = app
        .http
        .get(format!("{}/AAAA.AQID", client.url("renewalInfo")))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    // An order that replaces it: the successor is linked as its renewal, once.
    let (_, next) = client
        .issue_dns01(&app, "ari.example.test", Some(&id))
        .await;
    assert!(next.is_some());
    let certs = app
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/projects/{}/certificates", app.project.id),
            Some(&app.admin_key),
            None,
        )
        .await;
    let list = certs.body["result"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{}", certs.text);
    assert_eq!(list[1]["renewedFromId"], list[0]["id"]);
    assert_eq!(list[0]["renewedById"], list[1]["id"]);
    // The ACME client holds the key, not certkeeper.
    let exporter = app.export_key(certkeeper_domain::apikey::Role::Admin).await;
    app.call(
        reqwest::Method::GET,
        &format!(
            "{}/{}/private-key",
            app.certs_path(&app.project),
            list[0]["id"]
        ),
        Some(&exporter),
        None,
    )
    .await
    .assert_error(409, "does not hold the private key");
    let (again, _) = client
        .issue_dns01(&app, "ari.example.test", Some(&id))
        .await;
    assert_problem(&again, 409, "alreadyReplaced");
}

/// An external account binding over `client`'s key, MAC'd with `hmac` (base64url).
fn eab(client: &Client, kid: &str, hmac: &str) -> Value {
    let key = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(hmac)
        .unwrap();
    let protected = b64(
        json!({"alg": "HS256", "kid": kid, "url": client.url("newAccount")})
            .to_string()
            .as_bytes(),
    );
    let payload = b64(client.jwk().to_string().as_bytes());
    let tag = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key),
        format!("{protected}.{payload}").as_bytes(),
    );
    json!({"protected": protected, "payload": payload, "signature": b64(tag.as_ref())})
}

async fn external_account_binding_when_required(db: Db) {
    let app = TestApp::spawn(db).await;
    let (kid, hmac) = app.core.create_acme_eab_key(&app.project).await.unwrap();
    app.core
        .set_acme_eab_required(&app.project, true)
        .await
        .unwrap();
    let client = Client::new(&app).await;
    assert_eq!(client.directory["meta"]["externalAccountRequired"], true);
    let new_account = client.url("newAccount");
    let missing = client
        .post(&new_account, Some(&json!({"termsOfServiceAgreed": true})))
        .await;
    assert_problem(&missing, 403, "externalAccountRequired");
    let wrong = client
        .post(
            &new_account,
            Some(&json!({"externalAccountBinding": eab(&client, &kid, &b64(b"not the key"))})),
        )
        .await;
    assert_problem(&wrong, 403, "unauthorized");
    let unknown = client
        .post(
            &new_account,
            Some(&json!({"externalAccountBinding": eab(&client, "nope", &hmac)})),
        )
        .await;
    assert_problem(&unknown, 403, "unauthorized");
    let ok = client
        .post(
            &new_account,
            Some(&json!({"externalAccountBinding": eab(&client, &kid, &hmac)})),
        )
        .await;
    assert_eq!(ok.status, 201, "{:?}", ok.body);
    // One key, one account.
    let other = Client::new(&app).await;
    let reused = other
        .post(
            &new_account,
            Some(&json!({"externalAccountBinding": eab(&other, &kid, &hmac)})),
        )
        .await;
    assert_problem(&reused, 403, "unauthorized");
    // The bound account keeps working without presenting it again.
    let again = client
        .post(&new_account, Some(&json!({"onlyReturnExisting": true})))
        .await;
    assert_eq!(again.status, 200);
}

async fn the_project_policy_limits_names_keys_and_lifetime(db: Db) {
    let app = TestApp::spawn(db).await;
    let policy: certkeeper_core::acme_server::AcmePolicy = serde_json::from_value(
        json!({"allowedSuffixes": ["example.test"], "maxLifetimeDays": 7, "keyTypes": ["ec-p256"]}),
    )
    .unwrap();
    app.core
        .set_acme_policy(&app.project, policy)
        .await
        .unwrap();
    let mut client = Client::new(&app).await;
    client.register().await;
    let refused = client
        .post(&client.url("newOrder"), Some(&json!({"identifiers": [{"type": "dns", "value": "www.other.test"}, {"type": "dns", "value": "ok.example.test"}]})))
        .await;
    assert_problem(&refused, 400, "rejectedIdentifier");
    assert_eq!(
        refused.body["subproblems"][0]["identifier"]["value"],
        "www.other.test"
    );
    // Within policy: a P-256 key, valid for the policy's 7 days, not the server's 90.
    let (_, pem) = client.issue_dns01(&app, "ok.example.test", None).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leaf.pem");
    std::fs::write(&path, pem.unwrap()).unwrap();
    // The test clock is the real time at start: openssl's "still valid in N seconds" brackets
    // the end between 6 and 8 days from now.
    let valid_in = |days: i64| {
        std::process::Command::new("openssl")
            .args([
                "x509",
                "-noout",
                "-checkend",
                &(days * 86400).to_string(),
                "-in",
            ])
            .arg(&path)
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(valid_in(6) && !valid_in(8), "a 7-day certificate");
}
