//! Connecting to a production-like NATS server: TLS with a private CA,
//! mutual TLS, users limited to the application's subjects, tokens, NKeys
//! and credentials files (JWTs signed here, for a server in operator mode)
//! read from files; and each refusal as its own typed error, in words an
//! operator understands.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use airssys_nats::{BytesCodec, NatsBroker, NatsBrokerBuilder, NatsError, SecurityFile};
use airssys_rt::broker::MessageBroker;
use airssys_testkit::TestPki;
use bytes::Bytes;
use futures::StreamExt;
use support::jwt::{Account, Operator};
use support::{within, NatsServer};
use tempfile::TempDir;

/// A server started with `config` (written into `dir`).
fn server(dir: &TempDir, config: &str) -> Option<NatsServer> {
    let path = dir.path().join("nats.conf");
    std::fs::write(&path, config).unwrap();
    NatsServer::start_with_config(&path)
}

/// A file in `dir` holding `text`.
fn secret(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn builder(server: &NatsServer, prefix: &str) -> NatsBrokerBuilder<Bytes> {
    NatsBroker::builder(server.url(), Arc::new(BytesCodec))
        .prefix(prefix)
        .connect_timeout(Duration::from_secs(2))
}

/// `a` publishes to and requests from `b`: both work over this connection.
async fn talk(a: &NatsBroker<Bytes>, b: &NatsBroker<Bytes>) {
    let mut orders = b.subscribe("orders.>").unwrap();
    let mut prices = b.subscribe("prices").unwrap();
    within("b's subscriptions", b.sync()).await.unwrap();
    let responder = b.clone();
    tokio::spawn(async move {
        while let Some(req) = prices.recv().await {
            responder.reply(&req, Bytes::from_static(b"42")).unwrap();
        }
    });
    a.publish("orders.eu", Bytes::from_static(b"order 1"))
        .unwrap();
    let order = within("the order", orders.recv()).await.unwrap();
    assert_eq!(&*order.subject, "orders.eu");
    assert_eq!(order.payload, Bytes::from_static(b"order 1"));
    let reply = within(
        "the reply",
        a.request("prices", Bytes::from_static(b"?"), Duration::from_secs(5)),
    )
    .await
    .unwrap();
    assert_eq!(reply.payload, Bytes::from_static(b"42"));
}

/// The error of a connection expected to fail.
async fn refused(builder: NatsBrokerBuilder<Bytes>) -> NatsError {
    within("the refusal", builder.connect())
        .await
        .expect_err("the connection must be refused")
}

fn tls_server(dir: &TempDir, verify_clients: bool) -> Option<(NatsServer, TestPki)> {
    let pki = TestPki::generate(dir.path()).unwrap();
    let server = server(dir, &pki.server_tls_block(verify_clients))?;
    Some((server, pki))
}

#[tokio::test]
async fn a_host_with_the_servers_ca_talks_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let Some((server, pki)) = tls_server(&dir, false) else {
        return;
    };
    let connect = || {
        builder(&server, "shop")
            .tls_root_certificates(&pki.ca)
            .connect()
    };
    let (a, b) = (connect().await.unwrap(), connect().await.unwrap());
    talk(&a, &b).await;
}

#[tokio::test]
async fn a_host_without_the_ca_is_refused_with_a_tls_error_that_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let Some((server, _pki)) = tls_server(&dir, false) else {
        return;
    };
    let e = refused(builder(&server, "shop")).await;
    assert!(matches!(e, NatsError::Tls { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains(&server.url()), "{text}");
    assert!(text.contains("not signed by a trusted CA"), "{text}");
}

#[tokio::test]
async fn a_host_that_requires_tls_is_refused_by_a_plain_server() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = server(&dir, "") else {
        return;
    };
    let e = refused(builder(&server, "shop").require_tls(true)).await;
    assert!(matches!(e, NatsError::Tls { .. }), "{e:?}");
}

#[tokio::test]
async fn mutual_tls_admits_the_client_certificate_and_refuses_a_host_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let Some((server, pki)) = tls_server(&dir, true) else {
        return;
    };
    let connect = || {
        builder(&server, "shop")
            .tls_root_certificates(&pki.ca)
            .tls_client_cert(&pki.client_cert, &pki.client_key)
            .connect()
    };
    let (a, b) = (connect().await.unwrap(), connect().await.unwrap());
    talk(&a, &b).await;

    let e = refused(builder(&server, "shop").tls_root_certificates(&pki.ca)).await;
    assert!(matches!(e, NatsError::Tls { .. }), "{e:?}");
    assert!(
        e.to_string().contains("requires a client certificate"),
        "{e}"
    );
}

#[tokio::test]
async fn a_user_limited_to_the_prefix_and_inboxes_can_run() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = server(
        &dir,
        r#"authorization {
             users = [
               { user: "shop", password: "s3cret",
                 permissions: {
                   publish: ["shop.>", "_INBOX.>"]
                   subscribe: ["shop.>", "_INBOX.>"]
                 } }
             ]
           }"#,
    ) else {
        return;
    };
    let password = secret(&dir, "password", "s3cret\n");
    let connect = || {
        builder(&server, "shop")
            .user_password_file("shop", &password)
            .connect()
    };
    let (a, b) = (connect().await.unwrap(), connect().await.unwrap());
    talk(&a, &b).await;
}

#[tokio::test]
async fn a_wrong_password_is_refused_as_unauthorized_naming_the_user_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = server(
        &dir,
        r#"authorization { users = [ { user: "shop", password: "s3cret" } ] }"#,
    ) else {
        return;
    };
    let wrong = secret(&dir, "password", "guess\n");
    let e = refused(builder(&server, "shop").user_password_file("shop", &wrong)).await;
    assert!(matches!(e, NatsError::Unauthorized { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("authorization violation"), "{text}");
    assert!(text.contains("user `shop`"), "{text}");
    assert!(text.contains(&wrong.display().to_string()), "{text}");
    assert!(
        !text.contains("guess"),
        "the secret must not be shown: {text}"
    );

    let e = refused(builder(&server, "shop")).await;
    assert!(e.to_string().contains("without credentials"), "{e}");
}

#[tokio::test]
async fn a_token_from_a_file_works_and_a_wrong_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = server(&dir, r#"authorization { token: "t0ken-of-shop" }"#) else {
        return;
    };
    let token = secret(&dir, "token", "t0ken-of-shop\n");
    let connect = || builder(&server, "shop").token_file(&token).connect();
    let (a, b) = (connect().await.unwrap(), connect().await.unwrap());
    talk(&a, &b).await;

    let wrong = secret(&dir, "wrong-token", "stolen");
    let e = refused(builder(&server, "shop").token_file(&wrong)).await;
    assert!(matches!(e, NatsError::Unauthorized { .. }), "{e:?}");
    assert!(e.to_string().contains("the token in"), "{e}");
}

#[tokio::test]
async fn an_nkey_seed_from_a_file_works_and_an_unknown_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let user = nkeys::KeyPair::new_user();
    let Some(server) = server(
        &dir,
        &format!(
            "authorization {{ users = [ {{ nkey: {:?} }} ] }}",
            user.public_key()
        ),
    ) else {
        return;
    };
    let seed = secret(&dir, "host.nk", &format!("{}\n", user.seed().unwrap()));
    let connect = || builder(&server, "shop").nkey_seed_file(&seed).connect();
    let (a, b) = (connect().await.unwrap(), connect().await.unwrap());
    talk(&a, &b).await;

    let stranger = nkeys::KeyPair::new_user();
    let other = secret(&dir, "other.nk", &stranger.seed().unwrap());
    let e = refused(builder(&server, "shop").nkey_seed_file(&other)).await;
    assert!(matches!(e, NatsError::Unauthorized { .. }), "{e:?}");
    assert!(e.to_string().contains("the NKey seed in"), "{e}");
}

/// A server in operator mode trusting `operator`, knowing only `accounts`.
fn operator_server(
    dir: &TempDir,
    operator: &Operator,
    accounts: &[&Account],
) -> Option<NatsServer> {
    server(dir, &operator.server_config(accounts))
}

#[tokio::test]
async fn a_credentials_file_of_a_trusted_account_admits_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let operator = Operator::new("airssys-test");
    let shop = operator.account("shop");
    let Some(server) = operator_server(&dir, &operator, &[&shop]) else {
        return;
    };
    let creds = secret(&dir, "host.creds", &shop.user("host").creds());
    let connect = || builder(&server, "shop").credentials_file(&creds).connect();
    let (a, b) = (connect().await.unwrap(), connect().await.unwrap());
    talk(&a, &b).await;
}

#[tokio::test]
async fn a_credentials_file_the_server_does_not_trust_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let operator = Operator::new("airssys-test");
    let shop = operator.account("shop");
    let Some(server) = operator_server(&dir, &operator, &[&shop]) else {
        return;
    };

    // An account the server was never told about (a valid chain otherwise).
    let unknown = operator.account("unknown");
    let stranger = secret(&dir, "stranger.creds", &unknown.user("host").creds());
    let e = refused(builder(&server, "shop").credentials_file(&stranger)).await;
    assert!(matches!(e, NatsError::Unauthorized { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("authorization violation"), "{text}");
    assert!(text.contains("the credentials file"), "{text}");
    assert!(text.contains(&stranger.display().to_string()), "{text}");

    // A user of the known account, signed by a key the account does not list.
    let forger = nkeys::KeyPair::new_account();
    let forged = secret(
        &dir,
        "forged.creds",
        &shop.user_signed_by(&forger, "host").creds(),
    );
    let e = refused(builder(&server, "shop").credentials_file(&forged)).await;
    assert!(matches!(e, NatsError::Unauthorized { .. }), "{e:?}");
    assert!(e.to_string().contains(&forged.display().to_string()), "{e}");
}

#[tokio::test]
async fn a_jwt_user_limited_to_the_prefix_and_inboxes_can_run() {
    let dir = tempfile::tempdir().unwrap();
    let operator = Operator::new("airssys-test");
    let shop = operator.account("shop");
    let Some(server) = operator_server(&dir, &operator, &[&shop]) else {
        return;
    };
    let user = shop.user_limited_to("host", &["shop.>", "_INBOX.>"]);
    let creds = secret(&dir, "host.creds", &user.creds());

    // The JWT's limits hold: a publish outside them is dropped, one inside
    // arrives (after the dropped one, had it gone through: one connection's
    // messages keep their order).
    let observer = async_nats::ConnectOptions::with_credentials(&shop.user("observer").creds())
        .unwrap()
        .connect(server.url())
        .await
        .unwrap();
    let mut everything = observer.subscribe(">").await.unwrap();
    observer.flush().await.unwrap();
    let limited = async_nats::ConnectOptions::with_credentials_file(&creds)
        .await
        .unwrap()
        .connect(server.url())
        .await
        .unwrap();
    limited.publish("elsewhere", "denied".into()).await.unwrap();
    limited
        .publish("shop.inside", "allowed".into())
        .await
        .unwrap();
    limited.flush().await.unwrap();
    let first = within("the allowed message", everything.next())
        .await
        .unwrap();
    assert_eq!(first.subject.as_str(), "shop.inside");

    let connect = || builder(&server, "shop").credentials_file(&creds).connect();
    let (a, b) = (connect().await.unwrap(), connect().await.unwrap());
    talk(&a, &b).await;
}

/// The `SecurityFile` error of connecting with `builder` (no server needed:
/// the files are checked before anything is sent).
async fn bad_file(builder: NatsBrokerBuilder<Bytes>) -> (SecurityFile, PathBuf, String) {
    match refused(builder).await {
        NatsError::SecurityFile {
            what, file, reason, ..
        } => (what, file, reason),
        other => panic!("expected a SecurityFile error, got {other:?}"),
    }
}

fn unreachable() -> NatsBrokerBuilder<Bytes> {
    // Port 9 (discard): nothing listens; never reached anyway.
    NatsBroker::builder("nats://127.0.0.1:9", Arc::new(BytesCodec))
}

#[tokio::test]
async fn a_missing_or_malformed_secret_file_is_named_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-token");
    let (what, file, reason) = bad_file(unreachable().token_file(&missing)).await;
    assert_eq!(
        (what, file.as_path()),
        (SecurityFile::Token, missing.as_path())
    );
    assert!(reason.contains("file not found"), "{reason}");

    let empty = secret(&dir, "empty", "\n");
    let (what, _, reason) = bad_file(unreachable().token_file(&empty)).await;
    assert_eq!(what, SecurityFile::Token);
    assert!(reason.contains("empty"), "{reason}");

    let not_seed = secret(&dir, "not-a-seed", "hello");
    let (what, _, reason) = bad_file(unreachable().nkey_seed_file(&not_seed)).await;
    assert_eq!(what, SecurityFile::NkeySeed);
    assert!(reason.contains("not an NKey seed"), "{reason}");

    let not_creds = secret(&dir, "not.creds", "hello");
    let (what, _, _) = bad_file(unreachable().credentials_file(&not_creds)).await;
    assert_eq!(what, SecurityFile::Credentials);

    let not_pem = secret(&dir, "ca.pem", "hello");
    let (what, _, reason) = bad_file(unreachable().tls_root_certificates(&not_pem)).await;
    assert_eq!(what, SecurityFile::TlsCa);
    assert!(reason.contains("no PEM certificate"), "{reason}");

    let e =
        refused(unreachable().tls_client_cert(&not_pem, Path::new("/nonexistent/key.pem"))).await;
    assert!(e.to_string().contains("TLS client certificate file"), "{e}");
}
