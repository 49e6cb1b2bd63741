// Interactive SAS (emoji) verification driven through the CryptoApi the way a user clicking through
// Element would: request (in a DM, or to-device to one's own devices), accept, start SAS, compare, confirm.
import {
    CryptoEvent,
    VerificationPhase,
    VerificationRequestEvent,
    VerifierEvent,
} from "matrix-js-sdk/lib/crypto-api/index.js";

import { check, nextEmit, waitUntil, within } from "./harness.js";

/** Resolves with the first ShowSas callbacks of `verifier` (already shown or still to come). */
function sasShown(verifier, label) {
    return waitUntil(`${label} to show the SAS`, () => verifier.getShowSasCallbacks(),
        [[verifier, VerifierEvent.ShowSas]]);
}

function waitForPhase(request, phase, label) {
    return waitUntil(
        `${label}'s verification request to reach phase ${VerificationPhase[phase]}`,
        (note) => {
            note(`phase ${VerificationPhase[request.phase]}, cancellation ${request.cancellationCode}`);
            check(request.phase !== VerificationPhase.Cancelled,
                `${label}'s verification was cancelled: ${request.cancellationCode} by ${request.cancellingUserId}`);
            return request.phase === phase;
        },
        [[request, VerificationRequestEvent.Change]],
    );
}

/** `initiator` verifies `responder`'s user in the DM `roomId`; both sides confirm matching emoji. */
export async function verifyUsersWithSas(initiator, responder, roomId) {
    await verifyWithSas(initiator, responder,
        () => initiator.getCrypto().requestVerificationDM(responder.getUserId(), roomId));
}

/**
 * A new device (`initiator`) asks the user's other devices to verify it (to-device messages, as
 * Element's "verify with another device"); `responder`, one of those devices, accepts; SAS follows.
 */
export async function verifyOwnDeviceWithSas(initiator, responder) {
    await verifyWithSas(initiator, responder, () => initiator.getCrypto().requestOwnUserVerification());
}

async function verifyWithSas(initiator, responder, sendRequest) {
    const [iName, rName] = [initiator.scenarioLabel, responder.scenarioLabel];
    const incoming = nextEmit(responder, CryptoEvent.VerificationRequestReceived,
        `${rName} to receive ${iName}'s verification request`);

    const outgoing = await within(sendRequest(), `${iName} to send the verification request`);
    const received = await incoming;
    check(received.otherUserId === initiator.getUserId(),
        `${rName} got a verification request from ${received.otherUserId}, expected ${initiator.getUserId()}`);
    await within(received.accept(), `${rName} to accept the request`);
    await waitForPhase(outgoing, VerificationPhase.Ready, iName);

    const initiatorVerifier = await within(outgoing.startVerification("m.sas.v1"), `${iName} to start SAS`);
    await waitForPhase(received, VerificationPhase.Started, rName);
    const responderVerifier = received.verifier;
    check(responderVerifier, `${rName}'s request reached Started without a verifier`);

    const iSas = sasShown(initiatorVerifier, iName);
    const rSas = sasShown(responderVerifier, rName);
    const iDone = initiatorVerifier.verify();
    const rDone = responderVerifier.verify();
    // Awaited below; until then a cancellation must not surface as an unhandled rejection.
    iDone.catch(() => {});
    rDone.catch(() => {});
    const [iShown, rShown] = await Promise.all([iSas, rSas]);
    const iEmoji = JSON.stringify(iShown.sas.emoji);
    const rEmoji = JSON.stringify(rShown.sas.emoji);
    check(iShown.sas.emoji && iEmoji === rEmoji, `the SAS emoji differ: ${iName} ${iEmoji} vs ${rName} ${rEmoji}`);
    await within(Promise.all([iShown.confirm(), rShown.confirm()]), "both sides to confirm the SAS");
    await within(iDone, `${iName}'s verifier to finish`);
    await within(rDone, `${rName}'s verifier to finish`);
    await Promise.all([
        waitForPhase(outgoing, VerificationPhase.Done, iName),
        waitForPhase(received, VerificationPhase.Done, rName),
    ]);
}
