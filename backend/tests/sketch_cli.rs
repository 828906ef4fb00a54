//! `mss sketch` end to end: the binary on real files, and the official
//! Python library reading what it writes.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/tests/fixtures");

fn mss(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mss"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mss starts");
    let written = child.stdin.take().expect("stdin").write_all(stdin);
    // A child may exit (e.g. on a bad flag) before reading its input: the
    // pipe is then closed and the write fails with BrokenPipe. That is not a
    // test failure; the exit status and stderr below say what happened.
    if let Err(e) = written {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
    }
    child.wait_with_output().expect("mss runs")
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "mss failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

#[test]
fn quantiles_prints_the_documented_json_and_reports_bad_lines() {
    let input = b"10\n20\n\n30\nabc\nNaN\n-1\n40\ninf\n";
    let v = json(&mss(
        &[
            "sketch",
            "quantiles",
            "--sketch",
            "hdrhistogram",
            "--q",
            "0.5,0.99",
        ],
        input,
    ));
    assert_eq!(v["sketch"], "hdrhistogram");
    assert_eq!(v["count"], 4);
    assert_eq!(v["min"], 10.0);
    assert_eq!(v["max"], 40.0);
    assert_eq!(v["rejected"], 4, "abc, NaN, -1 (hdr has no negatives), inf");
    let keys: Vec<&String> = v["quantiles"].as_object().expect("object").keys().collect();
    assert_eq!(keys, ["0.5", "0.99"]);
    let stderr = String::from_utf8_lossy(&mss(&["sketch", "quantiles"], input).stderr).to_string();
    assert!(
        stderr.contains("line 5") && stderr.contains("line 6"),
        "line numbers on stderr: {stderr}"
    );
    assert!(!stderr.contains("line 7"), "quantileflow accepts -1: {stderr}");
}

#[test]
fn quantiles_rejects_bad_q_with_a_clear_error() {
    let out = mss(&["sketch", "quantiles", "--q", "99"], b"1\n");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("outside [0, 1]"));
    let out = mss(&["sketch", "quantiles", "--sketch", "tdigest"], b"1\n");
    assert!(!out.status.success());
}

#[test]
fn a_child_that_exits_before_reading_stdin_is_not_a_test_failure() {
    // 8 MiB cannot fit in a pipe buffer: the write is still going when the
    // binary exits on the bad flag, so the BrokenPipe branch of `mss()` runs.
    let input = b"1\n".repeat(4 << 20);
    let out = mss(&["sketch", "quantiles", "--q", "99"], &input);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("outside [0, 1]"));
}

#[test]
fn every_kind_answers_from_a_file() {
    let path = format!("{FIXTURES}/lognormal.values");
    for kind in ["quantileflow", "datadog", "momentsketch", "hdrhistogram"] {
        let v = json(&mss(
            &["sketch", "quantiles", "--sketch", kind, "--input", &path],
            b"",
        ));
        assert_eq!(v["count"], 3000, "{kind}");
        assert!(
            v["quantiles"]["0.5"].as_f64().is_some_and(|x| x > 0.0),
            "{kind}: {v}"
        );
    }
}

#[test]
fn reads_python_protobuf_and_hdr_v2() {
    let json_fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{FIXTURES}/hdfs_like_ms.ddsketch.json")).expect("fixture"),
    )
    .expect("json");
    let pb = format!("{FIXTURES}/hdfs_like_ms.ddsketch.pb");
    let v = json(&mss(
        &[
            "sketch",
            "quantiles",
            "--sketch",
            "quantileflow",
            "--format",
            "datadog-proto",
            "--input",
            &pb,
            "--q",
            "0.5,0.99",
        ],
        b"",
    ));
    for q in ["0.5", "0.99"] {
        // The protobuf carries gamma, from which α (and the multiplier) is
        // recomputed as Python does: equal to 1e-9, not to the last bit.
        let a = v["quantiles"][q].as_f64().expect("ours");
        let b = json_fixture["quantiles"][q].as_f64().expect("python");
        assert!((a - b).abs() <= 1e-9 * b, "q={q}: {a} vs {b}");
    }
    let hdr = format!("{FIXTURES}/hdfs_like_ms.hdr.b64");
    let hdr_json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{FIXTURES}/hdfs_like_ms.hdr.json")).expect("fixture"),
    )
    .expect("json");
    let v = json(&mss(
        &[
            "sketch",
            "quantiles",
            "--sketch",
            "hdrhistogram",
            "--format",
            "hdr-v2",
            "--input",
            &hdr,
            "--q",
            "0.5,0.99",
        ],
        b"",
    ));
    for q in ["0.5", "0.99"] {
        assert_eq!(
            v["quantiles"][q].as_f64(),
            hdr_json["quantiles"][q].as_f64(),
            "q={q}"
        );
    }
}

#[test]
fn native_encoding_round_trips_through_the_cli() {
    let values = std::fs::read(format!("{FIXTURES}/bimodal.values")).expect("fixture");
    for kind in ["quantileflow", "datadog", "momentsketch", "hdrhistogram"] {
        let direct = json(&mss(&["sketch", "quantiles", "--sketch", kind], &values));
        let encoded = mss(
            &["sketch", "encode", "--sketch", kind, "--format", "native"],
            &values,
        );
        assert!(encoded.status.success());
        let decoded = json(&mss(
            &["sketch", "quantiles", "--sketch", kind, "--format", "native"],
            &encoded.stdout,
        ));
        assert_eq!(direct["quantiles"], decoded["quantiles"], "{kind}");
        assert_eq!(direct["count"], decoded["count"], "{kind}");
    }
}

/// The official Python `ddsketch` 3.0.1 reads `mss sketch encode --format
/// datadog-proto` and computes the same quantiles as `mss`. Needs Python with
/// `ddsketch==3.0.1` and `protobuf` (installed by `scripts/test.sh`).
#[test]
fn python_ddsketch_reads_our_protobuf() {
    let values = std::fs::read(format!("{FIXTURES}/signed.values")).expect("fixture");
    let ours = json(&mss(
        &["sketch", "quantiles", "--q", "0.01,0.25,0.5,0.9,0.99"],
        &values,
    ));
    let encoded = mss(&["sketch", "encode", "--format", "datadog-proto"], &values);
    assert!(encoded.status.success());
    let script = r#"
import sys, json
from ddsketch.pb.ddsketch_pb2 import DDSketch
from ddsketch.pb.proto import DDSketchProto
msg = DDSketch()
msg.ParseFromString(sys.stdin.buffer.read())
s = DDSketchProto.from_proto(msg)
print(json.dumps({q: s.get_quantile_value(float(q)) for q in sys.argv[1].split(",")}))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script, "0.01,0.25,0.5,0.9,0.99"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is installed (scripts/test.sh installs ddsketch)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&encoded.stdout)
        .expect("write");
    let out = child.wait_with_output().expect("python runs");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    for q in ["0.01", "0.25", "0.5", "0.9", "0.99"] {
        let a = ours["quantiles"][q].as_f64().expect("ours");
        let b = theirs[q].as_f64().expect("theirs");
        assert!((a - b).abs() <= 1e-9 * b.abs(), "q={q}: mss {a}, python {b}");
    }
}
