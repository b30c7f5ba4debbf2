//! The real binary as a child process, for tests that need logs, signals or a hard kill.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct ServiceProcess {
    pub address: String,
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
}

impl ServiceProcess {
    /// Starts `caller-memory --dev serve` on a free port with JSON logs, its data under
    /// `data_dir`, plus `extra_env`, and waits until it listens.
    pub fn start_dev(data_dir: &Path, extra_env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_caller-memory"));
        command
            .args(["--dev", "serve"])
            .env_clear()
            .current_dir(data_dir)
            .env("PORT", "0")
            .env("LOG_FORMAT", "json")
            .env(
                "RUST_LOG",
                "debug,hyper=info,reqwest=info,h2=info,rustls=info",
            )
            .envs(extra_env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("the binary starts");
        let logs = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let logs = Arc::clone(&logs);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    logs.lock().unwrap().push(line);
                }
            });
        }
        let address = wait_for_address(&logs, &mut child);
        Self {
            address,
            child,
            logs,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Everything the process printed so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Sends SIGTERM and waits for a graceful exit.
    pub fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(100));
        self.logs()
    }

    /// Kills the process at once (SIGKILL), as a crash or the out-of-memory killer would.
    pub fn kill(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.logs()
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for_address(logs: &Arc<Mutex<Vec<String>>>, child: &mut Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        for line in logs.lock().unwrap().iter() {
            if let Ok(event) = serde_json::from_str::<serde_json::Value>(line) {
                if event["message"] == "listening" {
                    return format!("http://{}", event["address"].as_str().unwrap());
                }
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "the service exited with {status}:\n{}",
                logs.lock().unwrap().join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "the service did not start:\n{}",
        logs.lock().unwrap().join("\n")
    );
}
