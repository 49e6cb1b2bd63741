# For machines that cannot pull images (this project's CI): coturn from Debian's package, run
# like the official `coturn/coturn` image (arguments starting with `-` go to turnserver; runs as
# nobody; turnutils_* beside it). docker-compose.local.yml uses it.
FROM debian:bookworm-slim
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends coturn >/dev/null \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/lib/coturn && chown nobody:nogroup /var/lib/coturn
USER nobody:nogroup
VOLUME /var/lib/coturn
EXPOSE 3478 3478/udp
ENTRYPOINT ["turnserver"]
