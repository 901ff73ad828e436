import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { LmgwError } from '../shared/errors.js';
import { readDatabase } from './ca-db.js';
import { createOcspResponse, ocspErrorResponse, OCSPResponseStatus, parseOcspRequest, type OcspSigner } from './ocsp.js';

/** An OCSP request is a few hundred bytes; anything much larger is refused unread. */
const MAX_REQUEST_BYTES = 8 * 1024;

/**
 * A small RFC 6960 responder over HTTP (POST, and GET with the base64 request in the path). It
 * re-reads the CA database for every request, so a revocation shows at once.
 */
export function createOcspResponder(signer: OcspSigner, dbPath: string): Server {
  return createServer((req, res) => {
    readRequest(req)
      .then((der) => {
        let body: Uint8Array;
        try {
          body = createOcspResponse(signer, readDatabase(dbPath), parseOcspRequest(der));
        } catch (err) {
          body = ocspErrorResponse(
            err instanceof LmgwError && err.code === 'CA_BAD_OCSP_REQUEST'
              ? OCSPResponseStatus.malformedRequest
              : OCSPResponseStatus.internalError,
          );
        }
        send(res, 200, body);
      })
      .catch((err: unknown) => {
        send(res, err instanceof HttpError ? err.status : 400, new Uint8Array());
      });
  });
}

class HttpError extends Error {
  constructor(readonly status: number) {
    super(String(status));
  }
}

function send(res: ServerResponse, status: number, body: Uint8Array): void {
  res.writeHead(status, { 'content-type': 'application/ocsp-response', 'content-length': body.byteLength });
  res.end(body);
}

function readRequest(req: IncomingMessage): Promise<Uint8Array> {
  if (req.method === 'GET') {
    const encoded = decodeURIComponent((req.url ?? '/').slice(1));
    if (encoded.length > (MAX_REQUEST_BYTES * 4) / 3) return Promise.reject(new HttpError(414));
    return Promise.resolve(new Uint8Array(Buffer.from(encoded, 'base64')));
  }
  if (req.method !== 'POST') return Promise.reject(new HttpError(405));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REQUEST_BYTES) {
        reject(new HttpError(413));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(new Uint8Array(Buffer.concat(chunks))));
    req.on('error', reject);
  });
}
