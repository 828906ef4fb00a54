# The mss service with its dashboard. Used by docker-compose.yml.
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm cmake && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN bash scripts/setup.sh run \
 && PATH="/src/.tools/node_modules/.bin:$PATH" trunk build --release --offline \
 && cargo build --profile dist --locked -p backend

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/dist/mss /usr/local/bin/mss
COPY --from=build /src/frontend/dist /srv/dashboard
ENV MSS_STATIC_DIR=/srv/dashboard MSS_LISTEN=0.0.0.0:8080
EXPOSE 8080 4318
ENTRYPOINT ["mss"]
CMD ["serve", "--synthetic", "--loop", "--rate", "2000"]
