//! Checks against fixtures made by the official Python libraries
//! (`fixtures/make_fixtures.py`: ddsketch 3.0.1, hdrhistogram).

use shared::{Sketch, SketchKind};

/// (name, values text, ddsketch json, ddsketch protobuf)
pub const DDSKETCH_FIXTURES: [(&str, &str, &str, &[u8]); 6] = [
    (
        "lognormal",
        include_str!("../fixtures/lognormal.values"),
        include_str!("../fixtures/lognormal.ddsketch.json"),
        include_bytes!("../fixtures/lognormal.ddsketch.pb"),
    ),
    (
        "pareto",
        include_str!("../fixtures/pareto.values"),
        include_str!("../fixtures/pareto.ddsketch.json"),
        include_bytes!("../fixtures/pareto.ddsketch.pb"),
    ),
    (
        "uniform",
        include_str!("../fixtures/uniform.values"),
        include_str!("../fixtures/uniform.ddsketch.json"),
        include_bytes!("../fixtures/uniform.ddsketch.pb"),
    ),
    (
        "bimodal",
        include_str!("../fixtures/bimodal.values"),
        include_str!("../fixtures/bimodal.ddsketch.json"),
        include_bytes!("../fixtures/bimodal.ddsketch.pb"),
    ),
    (
        "signed",
        include_str!("../fixtures/signed.values"),
        include_str!("../fixtures/signed.ddsketch.json"),
        include_bytes!("../fixtures/signed.ddsketch.pb"),
    ),
    (
        "hdfs_like_ms",
        include_str!("../fixtures/hdfs_like_ms.values"),
        include_str!("../fixtures/hdfs_like_ms.ddsketch.json"),
        include_bytes!("../fixtures/hdfs_like_ms.ddsketch.pb"),
    ),
];

/// (values text, HDR V2 base64 from Python, Python's quantiles json)
pub const HDR_FIXTURE: (&str, &str, &str) = (
    include_str!("../fixtures/hdfs_like_ms.values"),
    include_str!("../fixtures/hdfs_like_ms.hdr.b64"),
    include_str!("../fixtures/hdfs_like_ms.hdr.json"),
);

pub fn parse_values(text: &str) -> Vec<f64> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.trim().parse().expect("fixture value"))
        .collect()
}

/// (q, python's value) pairs and python's count.
pub fn python_quantiles(json: &str) -> (Vec<(f64, f64)>, f64) {
    let v: serde_json::Value = serde_json::from_str(json).expect("fixture json");
    let qs = v["quantiles"]
        .as_object()
        .expect("quantiles object")
        .iter()
        .map(|(k, v)| (k.parse().expect("q key"), v.as_f64().expect("number")))
        .collect();
    (qs, v["count"].as_f64().expect("count"))
}

fn assert_close(name: &str, q: f64, ours: f64, theirs: f64) {
    let tol = 1e-9 * theirs.abs();
    assert!(
        (ours - theirs).abs() <= tol,
        "{name} q={q}: ours {ours}, python {theirs}"
    );
}

/// Same input → same quantile values as ddsketch 3.0.1 (1e-9 relative).
pub fn quantileflow_matches_python_values() {
    for (name, values, json, _) in DDSKETCH_FIXTURES {
        let mut sketch = Sketch::with_defaults(SketchKind::QuantileFlow);
        sketch.insert_slice(&parse_values(values)).expect("finite values");
        let (qs, count) = python_quantiles(json);
        assert_eq!(sketch.count() as f64, count, "{name}");
        for (q, theirs) in qs {
            assert_close(name, q, sketch.quantile(q).expect("non-empty"), theirs);
        }
    }
}

/// Python's protobuf reads back into the same quantiles.
pub fn quantileflow_reads_python_protobuf() {
    for (name, _, json, pb) in DDSKETCH_FIXTURES {
        let sketch =
            Sketch::from_datadog_proto(SketchKind::QuantileFlow, pb).expect("python protobuf decodes");
        let (qs, count) = python_quantiles(json);
        assert_eq!(sketch.count() as f64, count, "{name}");
        for (q, theirs) in qs {
            assert_close(name, q, sketch.quantile(q).expect("non-empty"), theirs);
        }
    }
}

/// Our protobuf, read back, gives Python's quantiles too.
pub fn quantileflow_protobuf_round_trip() {
    for (name, values, json, _) in DDSKETCH_FIXTURES {
        let mut sketch = Sketch::with_defaults(SketchKind::QuantileFlow);
        sketch.insert_slice(&parse_values(values)).expect("finite values");
        let bytes = sketch.to_datadog_proto().expect("ddsketch has protobuf");
        let back =
            Sketch::from_datadog_proto(SketchKind::QuantileFlow, &bytes).expect("own protobuf decodes");
        for (q, theirs) in python_quantiles(json).0 {
            assert_close(name, q, back.quantile(q).expect("non-empty"), theirs);
        }
    }
}

/// Python's HDR V2 (compressed, base64) decodes to Python's quantiles, and
/// our own histogram of the same integers agrees with it.
pub fn hdr_reads_python_v2() {
    let (values, b64, json) = HDR_FIXTURE;
    let bytes = shared::text::from_base64(b64).expect("base64");
    let theirs = Sketch::from_hdr_v2(&bytes).expect("python V2 decodes");
    let (qs, count) = python_quantiles(json);
    assert_eq!(theirs.count() as f64, count);
    let params = shared::SketchParams {
        hdr_scale: 1.0,
        ..shared::SketchParams::default()
    };
    let mut ours = Sketch::new(SketchKind::HdrHistogram, &params).expect("valid params");
    ours.insert_slice(&parse_values(values))
        .expect("non-negative values");
    for (q, want) in qs {
        assert_eq!(
            theirs.quantile(q).expect("non-empty"),
            want,
            "decoded python histogram, q={q}"
        );
        assert_eq!(ours.quantile(q).expect("non-empty"), want, "our histogram, q={q}");
    }
    // Our V2 (compressed and plain) reads back to the same quantiles.
    for compressed in [true, false] {
        let back = Sketch::from_hdr_v2(&ours.to_hdr_v2(compressed).expect("hdr")).expect("own V2 decodes");
        assert_eq!(back.quantiles(&super::QS).ok(), ours.quantiles(&super::QS).ok());
    }
}

/// The Python library's V2 bytes (scale 1, no exact stats) added straight
/// into a histogram equal decoding them and merging.
pub fn hdr_python_v2_merges_straight_in() {
    let (_, b64, _) = HDR_FIXTURE;
    let bytes = shared::text::from_base64(b64).expect("base64");
    let theirs = shared::hdr::HdrSketch::from_v2(&bytes).expect("python V2 decodes");
    let digits = theirs.significant_digits();
    let mut direct = shared::hdr::HdrSketch::new(digits, 1.0).expect("valid");
    let mut via_decode = direct.clone();
    direct.merge_v2(&bytes, None).expect("same layout");
    via_decode.merge(&theirs).expect("same parameters");
    assert_eq!(direct.count(), via_decode.count());
    assert_eq!(direct.mass_points(), via_decode.mass_points());
    assert_eq!(direct.min(), via_decode.min());
    assert_eq!(direct.max(), via_decode.max());
    let (a, b) = (direct.sum(), via_decode.sum());
    assert!((a - b).abs() <= 1e-9 * b, "sum {a} vs {b}");
    for q in super::QS {
        assert_eq!(direct.quantile(q).ok(), via_decode.quantile(q).ok(), "q={q}");
    }
}
