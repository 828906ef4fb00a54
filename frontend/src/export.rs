//! Getting things out of the page: PNG of a chart, CSV of its lines, the
//! embed snippet on the clipboard.

use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Blob, BlobPropertyBag, HtmlAnchorElement, HtmlCanvasElement, Url};

fn click_download(href: &str, filename: &str) -> Result<(), String> {
    let document = leptos::prelude::document();
    let anchor: HtmlAnchorElement = document
        .create_element("a")
        .map_err(|e| format!("{e:?}"))?
        .dyn_into()
        .map_err(|_| "not an anchor".to_owned())?;
    anchor.set_href(href);
    anchor.set_download(filename);
    anchor.click();
    Ok(())
}

/// Saves the canvas as a PNG file.
pub fn download_png(canvas: &HtmlCanvasElement, filename: &str) -> Result<(), String> {
    let url = canvas
        .to_data_url_with_type("image/png")
        .map_err(|e| format!("{e:?}"))?;
    click_download(&url, filename)
}

/// Saves `text` as a file of type `mime`.
pub fn download_text(text: &str, mime: &str, filename: &str) -> Result<(), String> {
    let parts = js_sys::Array::of1(&JsValue::from_str(text));
    let options = BlobPropertyBag::new();
    options.set_type(mime);
    let blob = Blob::new_with_str_sequence_and_options(&parts, &options).map_err(|e| format!("{e:?}"))?;
    let url = Url::create_object_url_with_blob(&blob).map_err(|e| format!("{e:?}"))?;
    let result = click_download(&url, filename);
    let _ = Url::revoke_object_url(&url);
    result
}

/// Puts `text` on the clipboard (asynchronously; fails silently outside a
/// secure context, where the snippet stays selectable on the page).
pub fn copy_to_clipboard(text: &str) {
    let _ = leptos::prelude::window().navigator().clipboard().write_text(text);
}

/// The iframe snippet and the static SVG URL for a panel.
pub fn embed_snippets(origin: &str, embed_query: &str, svg_query: &str) -> (String, String) {
    (
        format!(
            "<iframe src=\"{origin}/embed?{embed_query}\" width=\"800\" height=\"360\" style=\"border:0\" loading=\"lazy\"></iframe>"
        ),
        format!("{origin}/api/chart.svg?{svg_query}"),
    )
}
