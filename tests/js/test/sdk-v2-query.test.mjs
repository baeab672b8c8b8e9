// AWS SDK for JavaScript v2, pinned to a release that speaks the Query protocol to SQS
// (form-encoded requests, XML answers) and validates message-body MD5s itself.
import AWS from 'aws-sdk';

import { CREDENTIALS, REGION } from '../helpers.mjs';
import { sqsFlow } from './flow.mjs';

const lowerFirst = (op) => op[0].toLowerCase() + op.slice(1);

sqsFlow('aws-sdk v2 (Query protocol)', (endpoint) => {
  const sqs = new AWS.SQS({
    endpoint,
    region: REGION,
    credentials: new AWS.Credentials(CREDENTIALS.accessKeyId, CREDENTIALS.secretAccessKey),
    maxRetries: 0,
    computeChecksums: true,
    httpOptions: { timeout: 60_000, connectTimeout: 5_000 },
  });
  if (sqs.api.protocol !== 'query') {
    throw new Error(`aws-sdk v2 speaks ${sqs.api.protocol} to SQS; this suite pins a Query-protocol release`);
  }
  return {
    call: (op, params) => sqs[lowerFirst(op)](params).promise(),
    errorOf: (err) => ({ code: err.code, status: err.statusCode }),
  };
});
