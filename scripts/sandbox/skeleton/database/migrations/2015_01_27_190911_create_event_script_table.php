<?php

use Illuminate\Database\Migrations\Migration;
use Illuminate\Database\Schema\Blueprint;
use Illuminate\Support\Facades\Schema;

class CreateEventScriptTable extends Migration
{
    public function up()
    {
        Schema::create('event_script', function (Blueprint $t) {
            $t->string('name', 80)->primary();
            $t->string('type', 40);
            $t->boolean('is_active')->default(0);
            $t->boolean('allow_event_modification')->default(0);
            $t->text('content')->nullable();
            $t->text('config')->nullable();
            $t->timestamp('created_date')->nullable();
            $t->timestamp('last_modified_date')->nullable();
        });
    }

    public function down()
    {
        Schema::dropIfExists('event_script');
    }
}
