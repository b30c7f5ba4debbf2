//! A fresh Postgres database for one test, dropped when the test is done. The server comes from
//! `TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432`, trust authentication), as
//! `.ci/run` starts it.

use std::time::Duration;

use caller_memory::outbound::postgres::PoolOptions;
use tokio_postgres::NoTls;
use url::Url;

/// The variable naming the Postgres server the tests use.
pub const SERVER_VARIABLE: &str = "TEST_POSTGRES_URL";
const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432";

/// A database of its own (a unique name); dropped, with any connection still open to it, when
/// this is dropped.
pub struct TestDatabase {
    name: String,
    url: String,
    admin_url: String,
}

impl TestDatabase {
    pub async fn create() -> Self {
        let server = std::env::var(SERVER_VARIABLE)
            .ok()
            .filter(|value| !value.is_empty())
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
        let mut url = Url::parse(&server).expect("TEST_POSTGRES_URL is a URL");
        let name = format!("cm_test_{}", uuid::Uuid::new_v4().simple());
        url.set_path("/postgres");
        let admin_url = url.to_string();
        url.set_path(&format!("/{name}"));
        let admin = connect(&admin_url).await;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("a test database is created");
        Self {
            name,
            url: url.to_string(),
            admin_url,
        }
    }

    /// The database's URL, as `DATABASE_URL` takes it.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A connection of the test's own, to look inside the database.
    pub async fn connect(&self) -> tokio_postgres::Client {
        connect(&self.url).await
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime: the database is dropped from a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let admin = connect(&admin_url).await;
                admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
            })
        });
        if let Ok(Err(error)) = dropped.join() {
            eprintln!("the test database {} was not dropped: {error}", self.name);
        }
    }
}

/// Small and quick to give up, as tests want.
pub fn test_pool() -> PoolOptions {
    PoolOptions {
        size: 4,
        acquire_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(10),
    }
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|error| {
            panic!(
                "Postgres at {url} is not reachable (start it, or set {SERVER_VARIABLE}): {error}"
            )
        });
    tokio::spawn(connection);
    client
}
