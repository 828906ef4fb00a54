//! Browser entry point: mounts [`frontend::App`] on the page body.

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(frontend::App);
}
