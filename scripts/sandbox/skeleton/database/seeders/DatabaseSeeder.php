<?php

namespace Database\Seeders;

use Illuminate\Database\Seeder;
use Illuminate\Support\Facades\Crypt;
use Illuminate\Support\Facades\DB;
use Illuminate\Support\Facades\Hash;

/**
 * Seeds the system tables like a fresh DreamFactory does. Idempotent: rows are only
 * inserted when missing, so `migrate --seed` can run on every upgrade.
 */
class DatabaseSeeder extends Seeder
{
    const STAMP = '2024-01-01 00:00:00';

    public function run()
    {
        $this->insertMissing('user', 'email', [
            'name' => 'Sandbox Admin',
            'first_name' => 'Sandbox',
            'last_name' => 'Admin',
            'email' => 'admin@example.com',
            'password' => Hash::make('sandbox-admin-password'),
            'is_sys_admin' => 1,
            'is_active' => 1,
        ]);
        $this->insertMissing('user', 'email', [
            'name' => 'Jane Reader',
            'first_name' => 'Jane',
            'last_name' => 'Reader',
            'email' => 'jane@example.com',
            'password' => Hash::make('sandbox-user-password'),
            'is_sys_admin' => 0,
            'is_active' => 1,
        ]);

        $this->insertMissing('role', 'name', [
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
                'config' => Crypt::encryptString(json_encode([
                    'host' => 'sales-db.internal',
                    'database' => 'sales',
                    'username' => 'sales_reader',
                    'password' => 'sandbox-service-secret-42',
                ]))],
        ];
        foreach ($services as $s) {
            $this->insertMissing('service', 'name', $s + ['description' => null, 'is_active' => 1]);
        }

        $this->insertMissing('event_script', 'name', [
            'name' => 'db._table.{table_name}.get.post_process',
            'type' => 'php',
            'is_active' => 1,
            'allow_event_modification' => 0,
            'content' => '$event[\'response\'][\'content\'][\'sandbox\'] = true;',
        ]);
    }

    private function insertMissing($table, $key, array $row)
    {
        if (DB::table($table)->where($key, $row[$key])->exists()) {
            return;
        }
        DB::table($table)->insert($row + ['created_date' => self::STAMP, 'last_modified_date' => self::STAMP]);
    }
}
