//! SLOs and alerts on the page: firing alerts on top (their spans are
//! shaded on the chart), and an SLO panel with each objective's good share,
//! budget left and burn rates, marked when a fast-burn page would fire.

use leptos::prelude::*;

use crate::page::Page;

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{:.3}%", v * 100.0))
}

fn times(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v:.2}×"))
}

/// The alerts that are firing now (nothing when none is).
#[component]
pub fn AlertBanner(
    /// The page.
    page: Page,
) -> impl IntoView {
    move || {
        let firing: Vec<_> = page
            .alerts
            .with(|a| a.iter().filter(|a| a.state == "firing").cloned().collect());
        (!firing.is_empty()).then(|| {
            view! {
                <div class="alerts-firing" data-testid="alerts-firing">
                    {firing.into_iter().map(|a| {
                        let value = a.value.map(|v| format!(" (now {v:.2})")).unwrap_or_default();
                        view! { <p><strong>{format!("FIRING {}", a.name)}</strong>{format!(": {}{value}", a.summary)}</p> }
                    }).collect_view()}
                </div>
            }
        })
    }
}

/// Each SLO's good share and burn rate over 5 m, 1 h and the retention.
#[component]
pub fn SloPanel(
    /// The page.
    page: Page,
) -> impl IntoView {
    move || {
        let slos = page.slos.get();
        (!slos.is_empty()).then(|| {
            let unit = page.look().unit;
            view! {
                <section class="card slos" data-testid="slos">
                    <h2>"SLOs"</h2>
                    <table>
                        <thead><tr>
                            <th>"SLO"</th><th>"objective"</th>
                            <th>"good 5m"</th><th>"good 1h"</th><th>"good (retention)"</th>
                            <th>"burn 5m"</th><th>"burn 1h"</th><th>"budget left"</th>
                        </tr></thead>
                        <tbody>
                            {slos.into_iter().map(|s| {
                                let w = |name: &str| s.windows.iter().find(|w| w.window == name).cloned();
                                let (five, hour, all) = (w("5m"), w("1h"), w("retention"));
                                let filter = if s.filter.is_empty() { String::new() } else { format!(" {{{}}}", s.filter) };
                                view! {
                                    <tr data-testid="slo-row" class:paging=s.pages data-name=s.name.clone()>
                                        <td><strong>{s.name.clone()}</strong><br/><small class="muted">{format!("{}{filter}", s.metric)}</small></td>
                                        <td>{format!("{}% ≤ {} {unit}", s.objective, s.le)}</td>
                                        <td data-testid="slo-good-5m">{pct(five.as_ref().and_then(|w| w.good_ratio))}</td>
                                        <td>{pct(hour.as_ref().and_then(|w| w.good_ratio))}</td>
                                        <td>{pct(all.as_ref().and_then(|w| w.good_ratio))}</td>
                                        <td>{times(five.and_then(|w| w.burn_rate))}</td>
                                        <td>{times(hour.and_then(|w| w.burn_rate))}</td>
                                        <td data-testid="slo-budget">{pct(s.budget_left)}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                    <p class="muted">"burn rate = bad share ÷ (1 − objective); marked red when both 5 m and 1 h burn faster than 14.4× (a fast-burn page)"</p>
                </section>
            }
        })
    }
}
