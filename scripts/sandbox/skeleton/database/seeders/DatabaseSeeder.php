<?php

namespace Database\Seeders;

use Illuminate\Database\Seeder;
use Illuminate\Support\Facades\Crypt;
use Illuminate\Support\Facades\DB;
use Illuminate\Support\Facades\Hash;

/**
 * Seeds the system tables like a fresh DreamFactory does. Idempotent: rows are only
 * inserted when missing, so `migrate --seed` can run on every upgrade. A row is built
 * (a password hashed, a config encrypted) only when it is missing, as df-core's
 * AdminSeeder does (`if (!User::exists()) User::create(...)`): an upgrade's
 * `migrate --seed` hashes nothing.
 */
class DatabaseSeeder extends Seeder
{
    const STAMP = '2024-01-01 00:00:00';

    public function run()
    {
        $this->insertMissing('user', 'email', 'admin@example.com', fn () => [
            'name' => 'Sandbox Admin',
            'first_name' => 'Sandbox',
            'last_name' => 'Admin',
            'email' => 'admin@example.com',
            'password' => Hash::make('sandbox-admin-password'),
            'is_sys_admin' => 1,
            'is_active' => 1,
        ]);
        $this->insertMissing('user', 'email', 'jane@example.com', fn () => [
            'name' => 'Jane Reader',
            'first_name' => 'Jane',
            'last_name' => 'Reader',
            'email' => 'jane@example.com',
            'password' => Hash::make('sandbox-user-password'),
            'is_sys_admin' => 0,
            'is_active' => 1,
        ]);

        $this->insertMissing('role', 'name', 'reader', fn () => [
            'name' => 'reader',
            'description' => 'Read-only API access',
            'is_active' => 1,
        ]);

        $services = [
            ['name' => 'system', 'label' => 'System Management', 'type' => 'system', 'mutable' => 0, 'deletable' => 0],
            ['name' => 'api_docs', 'label' => 'Live API Docs', 'type' => 'swagger', 'mutable' => 0, 'deletable' => 0],
            ['name' => 'files', 'label' => 'Local File Storage', 'type' => 'local_file', 'mutable' => 1, 'deletable' => 1],
            ['name' => 'logs', 'label' => 'Local Log Storage', 'type' => 'local_file', 'mutable' => 1, 'deletable' => 1],
            ['name' => 'db', 'label' => 'Sales database', 'type' => 'mysql', 'mutable' => 1, 'deletable' => 1,
                'config' => fn () => Crypt::encryptString(json_encode([
                    'host' => 'sales-db.internal',
                    'database' => 'sales',
                    'username' => 'sales_reader',
                    'password' => 'sandbox-service-secret-42',
                ]))],
        ];
        foreach ($services as $s) {
            $this->insertMissing('service', 'name', $s['name'], fn () => array_map(
                fn ($v) => $v instanceof \Closure ? $v() : $v,
                $s + ['description' => null, 'is_active' => 1]
            ));
        }

        $name = 'db._table.{table_name}.get.post_process';
        $this->insertMissing('event_script', 'name', $name, fn () => [
            'name' => $name,
            'type' => 'php',
            'is_active' => 1,
            'allow_event_modification' => 0,
            'content' => '$event[\'response\'][\'content\'][\'sandbox\'] = true;',
        ]);
    }

    /** Insert the row $make builds, unless $table has a row whose $key is $value. */
    private function insertMissing($table, $key, $value, \Closure $make)
    {
        if (DB::table($table)->where($key, $value)->exists()) {
            return;
        }
        DB::table($table)->insert($make() + ['created_date' => self::STAMP, 'last_modified_date' => self::STAMP]);
    }
}
