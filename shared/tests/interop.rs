//! Interop with the official Python libraries, through committed fixtures.

mod common;

#[test]
fn quantileflow_matches_python_ddsketch_on_the_same_values() {
    common::interop::quantileflow_matches_python_values();
}

#[test]
fn quantileflow_reads_protobuf_written_by_python() {
    common::interop::quantileflow_reads_python_protobuf();
}

#[test]
fn quantileflow_protobuf_round_trips() {
    common::interop::quantileflow_protobuf_round_trip();
}

#[test]
fn hdrhistogram_reads_v2_written_by_python() {
    common::interop::hdr_reads_python_v2();
}
