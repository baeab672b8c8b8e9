<?php
// Symfony Messenger's Amazon SQS transport against Redrive, as an application would use it, without
// a whole Symfony app: the transport built from a DSN (the one docs/clients.md gives), a message sent,
// received and acknowledged. Prints the received message as JSON; on a failure, the exception's
// class and message on stderr (what the user would read), exit 1.
//
//   php tests/php/messenger_roundtrip.php 'sqs://127.0.0.1:9324/000000000000/orders?sslmode=disable&...'

declare(strict_types=1);

// Debian's packages (php-symfony-amazon-sqs-messenger pulls in Messenger and AsyncAws SQS).
require '/usr/share/php/Symfony/Component/Messenger/Bridge/AmazonSqs/autoload.php';

use Symfony\Component\Messenger\Bridge\AmazonSqs\Transport\AmazonSqsTransport;
use Symfony\Component\Messenger\Bridge\AmazonSqs\Transport\Connection;
use Symfony\Component\Messenger\Envelope;

final class PlaceOrder
{
    public function __construct(public readonly int $order)
    {
    }
}

if ($argc !== 2) {
    fwrite(STDERR, "usage: php messenger_roundtrip.php DSN\n");
    exit(2);
}

try {
    $transport = new AmazonSqsTransport(Connection::fromDsn($argv[1]));
    $transport->send(new Envelope(new PlaceOrder(42)));

    $received = [];
    // get() long-polls (the DSN's wait_time, 20 s by default) and may answer with nothing.
    for ($polls = 0; $polls < 3 && $received === []; ++$polls) {
        foreach ($transport->get() as $envelope) {
            $received[] = ['class' => get_class($envelope->getMessage()), 'order' => $envelope->getMessage()->order];
            $transport->ack($envelope);
        }
    }
    echo json_encode($received), "\n";
} catch (Throwable $e) {
    fwrite(STDERR, get_class($e) . ': ' . $e->getMessage() . "\n");
    exit(1);
}
