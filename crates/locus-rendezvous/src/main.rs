//! The `locus-rendezvous` binary: [`locus_rendezvous::Rendezvous`] in the process that
//! `locus_service::process` makes around every locus service.

use locus_rendezvous::config::Settings;

fn main() -> std::process::ExitCode {
    locus_service::process::main::<Settings, _, _>(
        "locus-rendezvous",
        "The rendezvous of a locus overlay: boot lists, the directory of live groups, overlay \
         snapshots and events over gRPC.",
        |config| async move {
            let (listen, metrics_listen) = (config.listen, config.metrics_listen);
            if let Some(addr) = metrics_listen {
                tracing::info!(%addr, "live map on / (plain HTTP, for the internal network)");
            }
            // The directory exists before either port is served: the map's routes go to the
            // HTTP server, the rendezvous to the gRPC one.
            let rendezvous = locus_rendezvous::Rendezvous::new(config);
            let routes = rendezvous.http_routes();
            locus_service::serve(listen, metrics_listen, routes, |listener, shutdown| {
                rendezvous.run(listener, shutdown)
            })
            .await?;
            Ok(())
        },
    )
}
