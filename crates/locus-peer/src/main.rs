//! The `locus-peer` binary: [`locus_peer::run`] in the process that `locus_service::process`
//! makes around every locus service.

use locus_peer::config::Settings;

fn main() -> std::process::ExitCode {
    locus_service::process::main::<Settings, _, _>(
        "locus-peer",
        "A peer of a locus overlay: joins the group in its network locality and keeps the \
         overlay together with its neighbours.",
        |config| async move {
            locus_service::serve(
                config.listen,
                config.metrics_listen,
                axum::Router::new(),
                |listener, shutdown| locus_peer::run(listener, config, shutdown),
            )
            .await?;
            Ok(())
        },
    )
}
