// AWS SDK for JavaScript v3 (@aws-sdk/client-sqs): AWS JSON 1.0 protocol in query-compatible
// mode; validates message-body MD5s itself.
import * as SQS from '@aws-sdk/client-sqs';

import { CREDENTIALS, REGION } from '../helpers.mjs';
import { sqsFlow } from './flow.mjs';

sqsFlow('@aws-sdk/client-sqs v3 (JSON protocol)', (endpoint) => {
  const client = new SQS.SQSClient({ endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 1 });
  return {
    call: (op, params) => {
      const Command = SQS[`${op}Command`];
      if (!Command) throw new Error(`no command ${op}`);
      return client.send(new Command(params));
    },
    // Query-compatible errors carry the legacy code (x-amzn-query-error) in `Code`.
    errorOf: (err) => ({ code: err.Code ?? err.name, status: err.$metadata?.httpStatusCode }),
    destroy: () => client.destroy(),
  };
});
