//! Sketch playground: values in, quantiles out, per sketch kind.

use leptos::prelude::*;
use shared::{Sketch, SketchKind, SketchParams};

/// What one sketch made of the pasted values.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Values accepted.
    pub count: u64,
    /// Lines that were not a number or that the sketch refused.
    pub rejected: usize,
    /// `(q, value)` for P50/P95/P99, or the error text.
    pub quantiles: Result<Vec<(f64, f64)>, String>,
    /// Bytes of the native encoding.
    pub encoded_bytes: usize,
}

/// Sketches `text` (one number per line) with `kind` and reads P50/P95/P99.
pub fn summarize(kind: SketchKind, text: &str) -> Summary {
    let mut sketch = Sketch::with_defaults(kind);
    let mut rejected = 0;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match line.parse::<f64>() {
            Ok(v) if sketch.insert(v).is_ok() => {}
            _ => rejected += 1,
        }
    }
    let qs = [0.5, 0.95, 0.99];
    let quantiles = if sketch.is_empty() {
        Err("no values yet".to_owned())
    } else {
        sketch
            .quantiles(&qs)
            .map(|v| qs.iter().copied().zip(v).collect())
            .map_err(|e| e.to_string())
    };
    Summary {
        count: sketch.count(),
        rejected,
        quantiles,
        encoded_bytes: sketch.encode().len(),
    }
}

const SAMPLE: &str = "131\n7260\n48\n52100\n9800\n612\n3120\n77\n15000\n2400\n880\n53654\n";

/// Text area + sketch selector + quantile table.
#[component]
pub fn Playground() -> impl IntoView {
    let (text, set_text) = signal(SAMPLE.to_owned());
    let (kind, set_kind) = signal(SketchKind::QuantileFlow);
    let summary = Memo::new(move |_| summarize(kind.get(), &text.get()));
    let params = SketchParams::default();
    view! {
        <section class="playground">
            <label>
                "Sketch "
                <select
                    id="sketch"
                    on:change=move |ev| {
                        if let Ok(k) = event_target_value(&ev).parse::<SketchKind>() {
                            set_kind.set(k);
                        }
                    }
                >
                    {SketchKind::ALL
                        .into_iter()
                        .map(|k| view! { <option value=k.name()>{k.name()}</option> })
                        .collect_view()}
                </select>
            </label>
            <p class="guarantee" id="guarantee">{move || params.guarantee(kind.get())}</p>
            <textarea
                id="values"
                rows="12"
                prop:value=text
                on:input=move |ev| set_text.set(event_target_value(&ev))
            ></textarea>
            <table id="quantiles">
                <tbody>
                    <tr><th>"count"</th><td id="count">{move || summary.get().count}</td></tr>
                    <tr><th>"rejected lines"</th><td id="rejected">{move || summary.get().rejected}</td></tr>
                    <tr><th>"encoded bytes"</th><td>{move || summary.get().encoded_bytes}</td></tr>
                    {move || match summary.get().quantiles {
                        Ok(rows) => rows
                            .into_iter()
                            .map(|(q, v)| view! {
                                <tr><th>{format!("P{}", q * 100.0)}</th><td class="q">{format!("{v:.2}")}</td></tr>
                            })
                            .collect_view()
                            .into_any(),
                        Err(e) => view! { <tr><td colspan="2" class="error">{e}</td></tr> }.into_any(),
                    }}
                </tbody>
            </table>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_rejects_and_reads_quantiles() {
        let s = summarize(SketchKind::HdrHistogram, "1\n2\nx\n-5\n\n3\n");
        assert_eq!(s.count, 3);
        assert_eq!(s.rejected, 2);
        let q = s.quantiles.expect("non-empty");
        assert_eq!(q[0].0, 0.5);
        assert!((q[0].1 - 2.0).abs() < 0.01);
    }
}
