# For machines that cannot pull images (this project's CI): coturn from Debian's package, run
# like the official `coturn/coturn` image (arguments starting with `-` go to turnserver, each
# expanded by the shell once; runs as nobody; turnutils_* beside it). docker-compose.local.yml uses it.
FROM debian:bookworm-slim
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends coturn >/dev/null \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/lib/coturn && chown nobody:nogroup /var/lib/coturn
COPY --chmod=755 coturn-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
USER nobody:nogroup
VOLUME /var/lib/coturn
EXPOSE 3478 3478/udp
ENTRYPOINT ["docker-entrypoint.sh"]
