<?php

namespace App\Console\Commands;

use Illuminate\Console\Command;
use Illuminate\Support\Facades\Crypt;
use Illuminate\Support\Facades\DB;

/**
 * Decrypts the encrypted service config the seeder stored under APP_KEY: the way a
 * test sees that the key and the data still belong together (a wrong key fails with
 * Laravel's "The MAC is invalid.").
 */
class ReadSecret extends Command
{
    protected $signature = 'sandbox:read-secret {--service=db : name of the service row}';

    protected $description = 'Decrypt and print the encrypted config of a service';

    public function handle()
    {
        $row = DB::table('service')->where('name', $this->option('service'))->first();
        if (!$row) {
            $this->error('no service named '.$this->option('service'));

            return 1;
        }
        $this->line(Crypt::decryptString($row->config));

        return 0;
    }
}
