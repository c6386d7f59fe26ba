<?php

namespace App\Console\Commands;

use Illuminate\Console\Command;
use Illuminate\Support\Facades\DB;

/** Connects to the system database with the .env settings and prints a JSON summary. */
class DbPing extends Command
{
    protected $signature = 'sandbox:db-ping';

    protected $description = 'Connect to the system database and count its rows';

    public function handle()
    {
        $conn = DB::connection();
        $conn->getPdo();
        $out = [
            'driver' => $conn->getDriverName(),
            'database' => $conn->getDatabaseName(),
            'users' => DB::table('user')->count(),
            'services' => DB::table('service')->count(),
            'scripts' => DB::table('event_script')->count(),
        ];
        $this->line(json_encode($out));

        return 0;
    }
}
