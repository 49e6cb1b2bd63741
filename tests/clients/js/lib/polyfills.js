// matrix-js-sdk 43 targets Node 22; the one Node-22-only built-in it calls is Promise.withResolvers
// (ES2024). Node 20 lacks it, so supply the standard behaviour. This module must be imported before
// the SDK (ES modules evaluate their imports in order).
if (typeof Promise.withResolvers !== "function") {
    Promise.withResolvers = function withResolvers() {
        let resolve;
        let reject;
        const promise = new this((res, rej) => {
            resolve = res;
            reject = rej;
        });
        return { promise, resolve, reject };
    };
}
