//! Helpers for the process-level tests: the `mss` binary, a Tansu broker on a
//! free loopback port, a tiny HTTP client, and CSV fixtures with bad rows.
#![allow(dead_code)]

pub mod served;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `mss` binary.
/// `MSS_BIN` overrides the binary (e.g. a copy kept for a loop of runs
/// while the build directory moves on).
pub fn mss() -> Command {
    let bin = std::env::var_os("MSS_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_mss").into());
    let mut c = Command::new(bin);
    c.env("RUST_LOG", "warn,backend=info");
    c
}

/// The consumers' `session.timeout.ms` in the broker tests.
pub const SESSION_TIMEOUT_MS: u64 = 6_000;

/// Waits until the group coordinator has given up on a killed member.
/// Tansu 0.6 can hand a member that joins while a dead member is still in
/// the group an empty assignment and never rebalance again; a replacement
/// that joins after the session timeout (as a supervisor restarting a
/// crashed process would) gets every partition.
pub fn wait_out_session() {
    std::thread::sleep(Duration::from_millis(SESSION_TIMEOUT_MS + 1_500));
}

/// A log file for a child process: `mss-logs-<test pid>/<name>.log` under
/// the temp dir. The path is printed, so a failing test shows where to look.
pub fn log_file(name: &str) -> std::fs::File {
    let dir = std::env::temp_dir().join(format!("mss-logs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("log dir");
    let path = dir.join(format!("{name}.log"));
    eprintln!("log of {name}: {}", path.display());
    std::fs::File::create(&path).expect("log file")
}

/// Prints the warnings and errors of every child log of this test
/// process (`log_file`), at most `max` lines: a failure on a CI machine,
/// whose temp dir is gone afterwards, then still shows what the processes said.
pub fn print_child_warnings(max: usize) {
    print_child_lines(max, |line| {
        (line.contains("WARN") || line.contains("ERROR")) && !line.contains("CONFWARN")
    });
}

/// Prints the lines of every child log of this test process (`log_file`)
/// that `wanted` accepts, at most `max` lines.
pub fn print_child_lines(max: usize, wanted: impl Fn(&str) -> bool) {
    let dir = std::env::temp_dir().join(format!("mss-logs-{}", std::process::id()));
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let mut printed = 0;
    for entry in entries.flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        let name = entry.file_name();
        for line in text.lines().filter(|l| wanted(l)) {
            if printed == max {
                return;
            }
            eprintln!("{}: {line}", name.to_string_lossy());
            printed += 1;
        }
    }
}

/// The wall clock, Unix epoch ms.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A free loopback port, never one this test process was given before:
/// two calls before either port is bound could otherwise get the same one
/// (seen: `--listen` and `--otlp-listen` of one `mss serve` both on 42379,
/// "Address already in use").
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut given = GIVEN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if given.insert(port) {
            return port;
        }
    }
}

/// Waits until `port` accepts connections.
pub fn wait_for_port(port: u16, timeout: Duration) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < timeout,
            "nothing listens on {port} after {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A Tansu broker (Apache Kafka protocol): in memory, or on a SQLite file
/// (libSQL storage) that survives a restart.
pub struct Tansu {
    proc: Proc,
    port: u16,
    /// Where the SQLite storage lives (`None`: in memory).
    data_dir: Option<PathBuf>,
    /// `127.0.0.1:PORT`
    pub brokers: String,
}

impl Tansu {
    /// Starts Tansu on a free port with in-memory storage. Tansu is
    /// installed by `scripts/setup.sh test`.
    pub fn start() -> Self {
        Self::launch(free_port(), None)
    }

    /// Starts Tansu on a free port storing its log and groups in
    /// `data_dir/tansu.db` (libSQL), so [`Tansu::restart`] keeps them.
    pub fn start_persistent(data_dir: &Path) -> Self {
        Self::launch(free_port(), Some(data_dir.to_owned()))
    }

    fn launch(port: u16, data_dir: Option<PathBuf>) -> Self {
        let url = format!("tcp://127.0.0.1:{port}");
        let log = log_file(&format!("tansu-{port}-{}", now_ms()));
        let storage = if data_dir.is_some() {
            "sqlite://tansu.db"
        } else {
            "memory://tansu/"
        };
        let mut command = Command::new(tansu_binary());
        command
            .args(["broker", "--storage-engine", storage])
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .env("RUST_LOG", "warn")
            .stdout(log.try_clone().expect("log file"))
            .stderr(log);
        // libSQL storage is a path relative to the working directory.
        if let Some(dir) = &data_dir {
            command.current_dir(dir);
        }
        let child = command
            .spawn()
            .expect("tansu starts (install it with: bash scripts/setup.sh test)");
        let proc = Proc(child);
        wait_for_port(port, Duration::from_secs(20));
        Tansu {
            proc,
            port,
            data_dir,
            brokers: format!("127.0.0.1:{port}"),
        }
    }

    /// Kills the broker (`SIGKILL`) and waits until it is gone.
    pub fn kill(&mut self) {
        let _ = self.proc.0.kill();
        let _ = self.proc.0.wait();
    }

    /// Starts the broker again on the same port and storage.
    pub fn restart(&mut self) {
        let again = Self::launch(self.port, self.data_dir.clone());
        *self = again;
    }

    /// Sends `signal` (`STOP`, `CONT`) to the broker process.
    pub fn signal(&self, signal: &str) {
        send_signal(&self.proc, signal);
    }
}

/// Sends `signal` (`STOP`, `CONT`, `TERM`) to `proc`.
pub fn send_signal(proc: &Proc, signal: &str) {
    let ok = Command::new("kill")
        .args([format!("-{signal}"), proc.0.id().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -{signal} {}", proc.0.id());
}

/// Waits for `proc` to exit, at most `timeout` (then the test fails).
pub fn wait_exit_within(proc: &mut Proc, timeout: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = proc.0.try_wait().expect("try_wait") {
            return status;
        }
        assert!(
            start.elapsed() < timeout,
            "process {} still running after {timeout:?}",
            proc.0.id()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `mss broker`: librdkafka's mock cluster in a process of its own (so it
/// can be frozen), with the source topic and the sketch log, 4 partitions
/// each.
pub struct MockBroker {
    /// The `mss broker` process.
    pub proc: Proc,
    /// `127.0.0.1:PORT`
    pub brokers: String,
}

impl MockBroker {
    /// Starts it and reads the address it prints.
    pub fn start() -> Self {
        let mut child = mss()
            .arg("broker")
            .stdout(Stdio::piped())
            .stderr(log_file(&format!("mock-broker-{}", now_ms())))
            .spawn()
            .expect("mss broker starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let proc = Proc(child);
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
            .expect("read the broker address");
        let brokers = line.trim().to_owned();
        assert!(brokers.starts_with("127.0.0.1:"), "mss broker printed {line:?}");
        MockBroker { proc, brokers }
    }
}

impl Tansu {
    /// Creates `topic` with `partitions` partitions through Tansu's own CLI.
    pub fn create_topic(&self, topic: &str, partitions: u32) {
        let created = Command::new(tansu_binary())
            .args(["topic", "create", "--broker", &format!("tcp://{}", self.brokers)])
            .args(["--partitions", &partitions.to_string(), topic])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("tansu topic create");
        assert!(created.success(), "topic {topic} created");
    }
}

/// The `tansu` binary (`~/.cargo/bin/tansu`, else on the PATH).
pub fn tansu_binary() -> PathBuf {
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    let cargo_bin = home.join(".cargo/bin/tansu");
    if cargo_bin.exists() {
        cargo_bin
    } else {
        PathBuf::from("tansu")
    }
}

/// The raw response to `GET path` on `127.0.0.1:port`.
fn raw_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    Some(String::from_utf8_lossy(&raw).into_owned())
}

/// `GET path` on `127.0.0.1:port` with `headers` (Host `localhost` unless
/// given): (status, response head).
pub fn http_get_with(port: u16, path: &str, headers: &[(&str, &str)]) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut request = format!("GET {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        request.push_str("Host: localhost\r\n");
    }
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    s.write_all(request.as_bytes()).ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    Some((
        status,
        text.split_once("\r\n\r\n")
            .map_or(text.clone(), |(h, _)| h.to_owned()),
    ))
}

/// `GET path` on `127.0.0.1:port`: (status, body).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let text = raw_get(port, path)?;
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Some((status, body))
}

/// The response head (status line and headers) of `GET path`.
pub fn http_head(port: u16, path: &str) -> Option<String> {
    raw_get(port, path)?
        .split_once("\r\n\r\n")
        .map(|(h, _)| h.to_owned())
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// `mss consume` on `brokers` in `group` with 200 ms windows, serving on
/// `port`, plus `extra` arguments; its log is `consume-{group}-{port}`.
pub fn spawn_consumer(brokers: &str, group: &str, port: u16, extra: &[&str]) -> Proc {
    Proc(
        mss()
            .args([
                "consume",
                "--brokers",
                brokers,
                "--group",
                group,
                "--window",
                "200ms",
            ])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log_file(&format!("consume-{group}-{port}")))
            .spawn()
            .expect("mss consume starts"),
    )
}

/// `mss view` on `brokers` serving on `port` (waits for the port); its log
/// is `view-{port}`.
pub fn spawn_view(brokers: &str, port: u16) -> Proc {
    let p = Proc(
        mss()
            .env("RUST_LOG", "warn,backend=info,mss::offsets=debug")
            .args(["view", "--brokers", brokers])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(log_file(&format!("view-{port}")))
            .spawn()
            .expect("mss view starts"),
    );
    wait_for_port(port, Duration::from_secs(20));
    p
}

/// Waits until `port` has counted `good` records, then checks that a moment
/// later it still has exactly that many (nothing counted twice) and says
/// it is ready; returns the settled summary.
pub fn assert_counted_once(port: u16, good: u64, timeout: Duration) -> serde_json::Value {
    let s = wait_summary(port, timeout, "every good row counted", |s| {
        s["messages_processed"].as_u64().unwrap_or(0) >= good
    });
    std::thread::sleep(Duration::from_secs(2));
    let settled = summary(port, "").expect("summary");
    assert_eq!(
        settled["messages_processed"].as_u64(),
        Some(good),
        "nothing counted twice: {s}"
    );
    assert_eq!(http_get(port, "/readyz").map(|(s, _)| s), Some(200));
    settled
}

/// `/api/summary` as JSON, if the server answers.
pub fn summary(port: u16, query: &str) -> Option<serde_json::Value> {
    let (status, body) = http_get(port, &format!("/api/summary{query}"))?;
    (status == 200)
        .then(|| serde_json::from_str(&body).ok())
        .flatten()
}

/// Polls until `check` holds for the summary, or panics after `timeout`.
pub fn wait_summary(
    port: u16,
    timeout: Duration,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let start = Instant::now();
    let mut last = None;
    loop {
        if let Some(s) = summary(port, "") {
            if check(&s) {
                return s;
            }
            last = Some(s);
        }
        assert!(
            start.elapsed() < timeout,
            "timed out waiting for {what}; last summary: {last:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The `Label` of good row `i` of [`write_csv`]: every fifth is `Fail`.
pub fn label_of(i: usize) -> &'static str {
    if i.is_multiple_of(5) {
        "Fail"
    } else {
        "Success"
    }
}

/// A CSV in the HDFS format with `good` good rows (labelled by
/// [`label_of`]) and one bad row of each kind every 1000 rows. Returns the
/// good latencies and the bad count per reason.
pub fn write_csv(path: &Path, good: usize, seed: u64) -> (Vec<f64>, Vec<(&'static str, u64)>) {
    let mut f = std::fs::File::create(path).expect("create csv");
    writeln!(f, "BlockId,Label,Type,Features,TimeInterval,Latency").expect("write");
    let mut state = seed;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let mut values = Vec::with_capacity(good);
    let bad_rows = [
        ("non_numeric", "blk_bad,Normal,1,\"[E5]\",\"[0.0]\",slow"),
        ("negative", "blk_bad,Normal,1,\"[E5]\",\"[0.0]\",-12.5"),
        ("not_finite", "blk_bad,Normal,1,\"[E5]\",\"[0.0]\",NaN"),
        ("missing_field", ",Normal,1,\"[E5]\",\"[0.0]\",40"),
        ("wrong_column_count", "blk_bad,Normal,1"),
    ];
    let mut bad = 0u64;
    for i in 0..good {
        let (u, v) = (next(), next());
        let normal = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
        let latency = ((8.0 + 1.1 * normal).exp() * 100.0).round() / 100.0;
        values.push(latency);
        let label = label_of(i);
        writeln!(
            f,
            "blk_{i},{label},1,\"[E5,E22,E5,E11]\",\"[0.0, 1.0]\",{latency}"
        )
        .expect("write");
        if i % 1000 == 999 {
            for (_, row) in &bad_rows {
                writeln!(f, "{row}").expect("write");
            }
            bad += 1;
        }
    }
    (
        values,
        bad_rows.iter().map(|(reason, _)| (*reason, bad)).collect(),
    )
}

/// Checks that `quantileflow` quantiles in `summary` are within α = 1 % of
/// the exact rank-⌊q(n−1)⌋ values of `values`. The summary's merged sketch
/// must hold every value (`data_points`): it is taken before
/// `messages_processed` is read, so a summary whose count is complete can
/// still miss the last records (found: q = 0.99 off by 1.3 % in a
/// fresh-clone run) — wait on `data_points` too.
pub fn assert_quantiles_within_alpha(summary: &serde_json::Value, values: &[f64]) {
    assert_eq!(
        summary["data_points"].as_u64(),
        Some(values.len() as u64),
        "the quantiles are of a sketch holding every value: {summary}"
    );
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    for (q, v) in summary["quantiles"].as_object().expect("quantiles") {
        let q: f64 = q.parse().expect("q key");
        let est = v.as_f64().expect("quantile value");
        let exact = sorted[(q * (sorted.len() - 1) as f64).floor() as usize];
        assert!(
            (est - exact).abs() <= 0.01 * exact * (1.0 + 1e-9),
            "q={q}: {est} vs exact {exact}"
        );
    }
}

/// Waits until `/readyz` on `port` answers 200 (partitions assigned, or a
/// view caught up with the sketch log).
pub fn wait_ready(port: u16) {
    let start = Instant::now();
    while http_get(port, "/readyz").map(|r| r.0) != Some(200) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{port} never became ready (/readyz)"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A fresh directory `mss-<name>-<pid>` under the system temp dir.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mss-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Producer settings for every test that produces into Tansu: one record
/// per batch. Tansu 0.6's storage answers a fetch with the batches whose
/// *base* offset is at or after the one asked for, so a consumer resuming
/// in the middle of a batch (any commit between two window closes) never
/// gets the rest of that batch — a broker bug (Kafka returns the batch and
/// the client skips the records before the offset), seen as a few records
/// missing after a restart or rebalance. With one record per batch every
/// offset starts a batch.
pub const ONE_RECORD_PER_BATCH: [&str; 2] = ["--librdkafka", "batch.num.messages=1"];

/// `mss produce` replaying a CSV into Tansu in the background; its log is
/// shown if it fails ([`Producer::finish`]).
pub struct Producer {
    proc: Proc,
    log: PathBuf,
}

impl Producer {
    /// Waits for the replay to end; panics with the producer's log if it failed.
    pub fn finish(mut self) {
        let status = self.proc.0.wait().expect("producer exits");
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        assert!(status.success(), "mss produce failed ({status}):\n{log}");
    }
}

/// `mss produce` replaying `csv` into Tansu (creating the 4-partition topic
/// if needed; at most `rate` msg/s), running in the background.
pub fn spawn_producer(brokers: &str, csv: &Path, rate: Option<&str>) -> Producer {
    let log = csv.with_extension("producer.log");
    let mut c = mss();
    c.args(["produce", "--brokers", brokers, "--partitions", "4", "--csv"])
        .arg(csv)
        .args(ONE_RECORD_PER_BATCH);
    if let Some(r) = rate {
        c.args(["--rate", r]);
    }
    let proc = Proc(
        c.stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("producer log"))
            .spawn()
            .expect("producer starts"),
    );
    Producer { proc, log }
}

/// Creates the 4-partition `latency` topic by replaying an empty CSV into it.
pub fn create_latency_topic(brokers: &str, dir: &Path) {
    let empty = dir.join("empty.csv");
    std::fs::write(&empty, "BlockId,Label,Type,Features,TimeInterval,Latency\n").expect("write");
    spawn_producer(brokers, &empty, None).finish();
}

/// The partitions each of two members holds.
pub type Split = (std::collections::BTreeSet<i64>, std::collections::BTreeSet<i64>);

/// The partitions of `--topic` a member holds now (`None` if it does not answer).
pub fn assigned(port: u16) -> Option<std::collections::BTreeSet<i64>> {
    let s = summary(port, "")?;
    let held = s["assigned"].as_array()?.iter();
    Some(held.filter_map(|p| p["partition"].as_i64()).collect())
}

/// Waits until the two members hold disjoint sets that cover all
/// `partitions`, unchanged for longer than two heartbeat intervals (3 s
/// each), so no rebalance is under way. Tansu 0.6 completes a rebalance
/// without waiting for every member to rejoin: while the group settles, a
/// member can be handed partitions that another still consumes (seen once:
/// 3,925 rows counted twice when records were produced during that churn).
pub fn wait_for_a_settled_split(port_a: u16, port_b: u16, partitions: i64) {
    let settled_for = Duration::from_secs(7);
    let start = std::time::Instant::now();
    // The split last seen, and since when.
    let mut since: Option<(std::time::Instant, Split)> = None;
    loop {
        let split = assigned(port_a).zip(assigned(port_b)).filter(|(a, b)| {
            !a.is_empty() && !b.is_empty() && a.is_disjoint(b) && a.union(b).count() as i64 == partitions
        });
        since = match (since, split) {
            (Some((t, held)), Some(now)) if held == now => {
                if t.elapsed() >= settled_for {
                    return;
                }
                Some((t, held))
            }
            (_, now) => now.map(|now| (std::time::Instant::now(), now)),
        };
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the group never settled on a split: {:?} / {:?}",
            assigned(port_a),
            assigned(port_b)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
